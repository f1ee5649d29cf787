"""Pictures of histograms and evaluations.

The per-epoch histogram pictures (`HistogramPanels`) are drawn with PIL, as they are drawn inside
training; the once-per-run ones (overviews, confusion matrix, image grid) with matplotlib's Agg
canvas (no pyplot, no GUI), in one tick-free axes where possible, as glyphs and axes cost most.
"""

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image, ImageDraw, ImageFont

from blueprint.diagnostics.histograms import Histogram

PANEL_COLUMNS = 4
PICTURE_WIDTH = 1000  # pixels: legible in the MLflow UI's full image view
PANEL_HEIGHT = 150  # pixels per row of small multiples
TITLE_BAND, LABEL_BAND, MARGIN = 36, 24, 10  # pixels above the panels, above the bars, around
FONT_SIZE, TITLE_SIZE = 14, 17
BAR_COLOUR = "#1f77b4"
FRAME_COLOUR = "#999999"
SPLIT_TITLES = {"val": "validation", "test": "test"}  # how pictures name a split


def _new_figure(width: float, height: float, dpi: int) -> Figure:
    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    return figure


def _grid(count: int) -> tuple[int, int]:
    columns = min(PANEL_COLUMNS, max(count, 1))
    return math.ceil(max(count, 1) / columns), columns


def range_text(low: float, high: float) -> str:
    """ "low, high" with just enough significant digits to tell them apart (few glyphs: cheap)."""
    scale = max(abs(low), abs(high))
    spread = math.log10(scale / (high - low)) if high > low and scale > 0 else 0.0
    digits = 2 + min(6, max(0, math.ceil(spread)))
    return f"{low:.{digits}g}, {high:.{digits}g}"


class HistogramPanels:
    """One picture per kind and epoch: a small multiple per tensor, each on its own value range.

    Drawn with PIL straight into pixels, since it runs inside training: bars are rectangles and
    the few labels one FreeType font, a few milliseconds a picture where matplotlib took ~30 ms.
    The picture is `width` pixels wide whatever the number of tensors, so the MLflow UI's full
    view shows it legibly; the static parts (frames, tensor names) are drawn once and copied.
    """

    def __init__(self, kind: str, names: Sequence[str], width: int = PICTURE_WIDTH) -> None:
        self.kind = kind
        self.names = list(names)
        rows, columns = _grid(len(self.names))
        self._panel = (width // PANEL_COLUMNS, PANEL_HEIGHT)
        self._font = ImageFont.load_default(size=FONT_SIZE)
        self._title_font = ImageFont.load_default(size=TITLE_SIZE)
        self._background = Image.new("RGB", (width, TITLE_BAND + rows * PANEL_HEIGHT), "white")
        draw = ImageDraw.Draw(self._background)
        self._boxes = []  # (left, top, right, bottom) of each panel's bar area, in pixels
        for i, name in enumerate(self.names):
            row, column = divmod(i, columns)
            left = column * self._panel[0] + MARGIN
            top = TITLE_BAND + row * PANEL_HEIGHT
            box = (
                left,
                top + LABEL_BAND,
                left + self._panel[0] - 2 * MARGIN,
                top + PANEL_HEIGHT - 22,
            )
            self._boxes.append(box)
            draw.rectangle(box, outline=FRAME_COLOUR)
            draw.text((left, top + 4), name, fill="black", font=self._font)

    def render(self, epoch: int, histograms: dict[str, Histogram]) -> Image.Image:
        image = self._background.copy()
        draw = ImageDraw.Draw(image)
        for name, (left, top, right, bottom) in zip(self.names, self._boxes, strict=True):
            hist = histograms[name]
            x = np.linspace(left + 1, right, len(hist.counts) + 1).round().astype(int)
            heights = (bottom - top - 2) * hist.counts / max(int(hist.counts.max()), 1)
            for x0, x1, h in zip(x[:-1], x[1:], heights.round().astype(int), strict=True):
                if h > 0:
                    draw.rectangle(
                        (x0, bottom - 1 - h, max(x0, x1 - 1), bottom - 1), fill=BAR_COLOUR
                    )
            low, high = float(hist.edges[0]), float(hist.edges[-1])
            low_text, high_text = range_text(low, high).split(", ")
            draw.text((left, bottom + 1), low_text, fill="dimgray", font=self._font)
            draw.text((right, bottom + 1), high_text, fill="dimgray", font=self._font, anchor="ra")
        draw.text(
            (image.width // 2, TITLE_BAND // 2),
            f"{self.kind}, epoch {epoch}: histogram per tensor, each over its own min..max",
            fill="black",
            font=self._title_font,
            anchor="mm",
        )
        return image


def stack(pictures: Sequence[Image.Image]) -> Image.Image:
    """Pictures of one width one above the other: an epoch's kinds in one picture, one upload."""
    out = Image.new("RGB", (pictures[0].width, sum(p.height for p in pictures)), "white")
    top = 0
    for picture in pictures:
        out.paste(picture, (0, top))
        top += picture.height
    return out


class GifFrames:
    """Frames kept at one byte per pixel until the GIF is written at the end of the run.

    The first frame's 64-colour palette is reused for the others (well under a millisecond each,
    where an adaptive palette per frame costs ~10 ms), as every frame has the same few colours.
    """

    def __init__(self) -> None:
        self.frames: list[Image.Image] = []

    def add(self, image: Image.Image) -> Image.Image:
        """Keeps the picture as a 64-colour frame, and returns it: a palette PNG of it encodes in
        half the time of the RGB picture, with the same pixels."""
        if self.frames:
            self.frames.append(image.quantize(palette=self.frames[0], dither=Image.Dither.NONE))
        else:
            self.frames.append(image.quantize(colors=64))
        return self.frames[-1]

    def save(self, path: Path, seconds_per_frame: float = 0.5) -> None:
        self.frames[0].save(
            path,
            save_all=True,
            append_images=self.frames[1:],
            duration=int(seconds_per_frame * 1000),
            loop=0,
        )


def common_grid(series: Sequence[Histogram], bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Re-bins every epoch's histogram onto shared edges over all epochs: (epochs x bins), edges.

    Each source bin's count moves to the shared bin holding its centre, so counts are preserved.
    """
    low = min(float(h.edges[0]) for h in series)
    high = max(float(h.edges[-1]) for h in series)
    edges = np.linspace(low, high, bins + 1)
    grid = np.zeros((len(series), bins), dtype="int64")
    for row, hist in enumerate(series):
        centres = (hist.edges[:-1] + hist.edges[1:]) / 2
        index = np.clip(np.searchsorted(edges, centres, side="right") - 1, 0, bins - 1)
        np.add.at(grid[row], index, hist.counts)
    return grid, edges


def overview(
    kind: str, epochs: Sequence[int], series: dict[str, list[Histogram]], bins: int, dpi: int
) -> Figure:
    """A heat-map per tensor: value across, epochs upwards, count as log colour: drift at a glance.

    Panels share one tick-free axes, like the per-epoch pictures: tick labels on a dozen axes would
    cost more to draw than the rest of the run's end together.
    """
    rows, columns = _grid(len(series))
    width, height = 3.0, 2.0  # inches per panel
    figure = _new_figure(width * columns, height * rows + 0.45, dpi)
    top = 0.45 / height  # the title band, in panel units
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, columns)
    ax.set_ylim(rows + top, 0)
    ax.text(
        columns / 2,
        top / 2,
        f"{kind}: value across, epochs {epochs[0]}..{epochs[-1]} upwards, colour = count (log)",
        fontsize=9,
        ha="center",
        va="center",
    )
    for i, (name, hists) in enumerate(series.items()):
        grid, edges = common_grid(hists, bins)
        row, column = divmod(i, columns)
        left, upper = column + 0.05, top + row + 0.15
        ax.imshow(
            np.ma.masked_equal(grid, 0),
            extent=(left, left + 0.9, upper + 0.7, upper),
            origin="lower",  # row 0, the first epoch, at the bottom (extent's first y)
            aspect="auto",
            interpolation="nearest",
            norm=LogNorm(vmin=1, vmax=max(int(grid.max()), 2)),
            cmap="viridis",
        )
        ax.add_patch(Rectangle((left, upper), 0.9, 0.7, fill=False, lw=0.5, ec="0.6"))
        ax.text(left, upper - 0.02, name, fontsize=7, va="bottom", ha="left")
        ax.text(left, upper + 0.72, f"{edges[0]:.3g}", fontsize=6, va="top", ha="left")
        ax.text(left + 0.9, upper + 0.72, f"{edges[-1]:.3g}", fontsize=6, va="top", ha="right")
    return figure


def confusion_matrix_figure(
    matrix: np.ndarray, class_names: Sequence[str], dpi: int, split: str = SPLIT_TITLES["val"]
) -> Figure:
    """Counts with true class on rows and predicted class on columns, annotated when small."""
    size = max(4.0, 0.45 * len(class_names) + 2)
    figure = _new_figure(size, size, dpi)
    ax = figure.subplots()
    ax.imshow(matrix, cmap="Blues")
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, fontsize=7, rotation=90 if len(class_names) > 10 else 0)
    ax.set_yticks(ticks, class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{split} confusion matrix", fontsize=9)
    if len(class_names) <= 20:
        threshold = matrix.max() / 2
        for (row, col), count in np.ndenumerate(matrix):
            colour = "white" if count > threshold else "black"
            ax.text(col, row, str(count), ha="center", va="center", fontsize=7, color=colour)
    figure.tight_layout()
    return figure


def image_grid(
    images: np.ndarray, titles: Sequence[str], dpi: int, split: str = SPLIT_TITLES["val"]
) -> Figure:
    """Images (n, h, w, channels) tiled into one montage, one caption each (one axes: cheap)."""
    count, height, width = images.shape[:3]
    columns = max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    scale = np.max(images.reshape(count, -1), axis=1).clip(min=1e-12)
    tiles = images / scale[:, None, None, None]  # each image on its own 0..1 scale
    pad = max(1, math.ceil(height / 4))  # the gap above each tile holds its caption
    montage = np.ones((rows * (height + pad), columns * (width + pad), images.shape[3]))
    for i, tile in enumerate(tiles):
        row, column = divmod(i, columns)
        top, left = row * (height + pad) + pad, column * (width + pad)
        montage[top : top + height, left : left + width] = tile
    figure = _new_figure(1.6 * columns, 1.8 * rows + 0.3, dpi)
    figure.suptitle(f"worst-misclassified {split} images (true -> predicted, p)", fontsize=9)
    ax = figure.add_axes((0.01, 0.01, 0.98, 1 - 0.45 / (1.8 * rows + 0.3)))
    ax.set_axis_off()
    pixels = montage[..., 0] if montage.shape[-1] == 1 else montage
    ax.imshow(pixels, cmap="gray", vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    for i, title in enumerate(titles):
        row, column = divmod(i, columns)
        x, y = column * (width + pad) + width / 2, row * (height + pad) + pad - 0.5
        ax.text(x, y, title, fontsize=7, ha="center", va="bottom", clip_on=False)
    return figure
