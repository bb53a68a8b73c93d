"""Browse a frame store: pick a game, scrub its frames on the stage, read its timeline.

    marimo edit notebooks/replay_explorer.py -- --store .cache/explore_store
    marimo run notebooks/replay_explorer.py -- --store DIR

The store comes from ``workbench ingest data/replays --out DIR`` (or from running
``explore_replays.ipynb``, whose default store this app opens when ``--store`` is left out).
All logic lives in ``workbench``; the cells only call it.
"""

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    from workbench import viz
    from workbench.replay import FrameStore

    return FrameStore, mo, viz


@app.cell
def _(FrameStore, mo):
    default_store = mo.notebook_dir() / ".." / ".cache" / "explore_store"
    store_path = mo.cli_args().get("store") or str(default_store)
    frame_store = FrameStore(store_path)
    games = frame_store.games()
    mo.stop(
        not games,
        mo.md(
            f"No games in `{store_path}`: run `workbench ingest data/replays --out {store_path}` "
            "or pass `-- --store DIR`."
        ),
    )
    return frame_store, games, store_path


@app.cell
def _(games, mo, viz):
    game_picker = mo.ui.dropdown(
        options={f"{index}: {viz.game_label(row)}": index for index, row in enumerate(games)},
        value=f"0: {viz.game_label(games[0])}",
        label="game",
    )
    window_frames = mo.ui.slider(start=60, stop=3600, step=60, value=600, label="frames shown", show_value=True)
    mo.hstack([game_picker, window_frames], justify="start")
    return game_picker, window_frames


@app.cell
def _(frame_store, game_picker, games, viz, window_frames):
    table = frame_store.load(games[game_picker.value]["md5"])
    window = viz.frame_window(table, window_frames.value)
    return table, window


@app.cell
def _(mo, window):
    frame_slider = mo.ui.slider(start=0, stop=len(window) - 1, value=0, label="frame", show_value=True, full_width=True)
    frame_slider
    return (frame_slider,)


@app.cell
def _(frame_slider, table, viz, window):
    viz.frame_chart(table, int(window[frame_slider.value]))
    return


@app.cell
def _(table, viz, window_frames):
    viz.game_timeline(table, max_frames=window_frames.value)
    return


@app.cell
def _(frame_store, mo, store_path, viz):
    mo.accordion({f"Corpus in {store_path}": viz.corpus_summary(frame_store.manifest())})
    return


if __name__ == "__main__":
    app.run()
