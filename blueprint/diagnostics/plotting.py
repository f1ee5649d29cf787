"""Pictures of histograms: a small-multiples picture per kind and epoch, the run's GIF of them
and an overview heat-map per kind, drawn with PIL straight into palette pixels.

Every picture is a grid of the same few elements (bars, coloured cells, short labels in one
FreeType font), which PIL draws in milliseconds where matplotlib took ~0.1-0.3 s a figure with its
axes, ticks and layout. `evaluation_pictures` draws the evaluation's the same way.
"""

import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from matplotlib import colormaps
from PIL import GifImagePlugin, Image, ImageDraw, ImageFont

from blueprint.diagnostics.histograms import Histogram

PANEL_COLUMNS = 4
PICTURE_WIDTH = 1000  # pixels: legible in the MLflow UI's full image view
PANEL_HEIGHT = 150  # pixels per row of small multiples
TITLE_BAND, LABEL_BAND, MARGIN = 36, 24, 10  # pixels above the panels, above the bars, around
FONT_SIZE, TITLE_SIZE = 14, 17
MAX_LABELS = 4096  # text masks a panel layout keeps

# The histogram pictures are palette images: index 0..GRAYS-1 runs from white to black, so text
# antialiased onto white blends into the right gray (PIL mixes the indices as numbers), then the
# bar colour, then the overviews' colour scale. A palette PNG encodes in a third of the time of an
# RGB one, and GIF frames need no quantising.
GRAYS, HEAT = 64, 128  # palette entries: grays, then the overviews' colour scale
BAR, HEAT_START = GRAYS, GRAYS + 1  # palette indices of the bars and of the scale's first colour
PALETTE = [round(255 * (1 - i / (GRAYS - 1))) for i in range(GRAYS) for _ in range(3)]
PALETTE += [0x1F, 0x77, 0xB4]  # bar colour, matplotlib's default blue
PALETTE += (
    (colormaps["viridis"](np.linspace(0, 1, HEAT))[:, :3] * 255)
    .round()
    .astype(int)
    .ravel()
    .tolist()
)


def _gray(level: int) -> int:
    """The palette index of the gray with this 0 (black) .. 255 (white) level."""
    return round((GRAYS - 1) * (1 - level / 255))


BLACK, LABEL_GRAY, FRAME_GRAY = _gray(0), _gray(105), _gray(153)


def _grid(count: int) -> tuple[int, int]:
    columns = min(PANEL_COLUMNS, max(count, 1))
    return math.ceil(max(count, 1) / columns), columns


def range_text(low: float, high: float) -> str:
    """ "low, high" with just enough significant digits to tell them apart (few glyphs: cheap)."""
    scale = max(abs(low), abs(high))
    spread = math.log10(scale / (high - low)) if high > low and scale > 0 else 0.0
    digits = 2 + min(6, max(0, math.ceil(spread)))
    return f"{low:.{digits}g}, {high:.{digits}g}"


def draw_title(draw: ImageDraw.ImageDraw, width: int, title: str, fill: int | str) -> None:
    """`title` centred in the title band of a picture `width` pixels wide."""
    font = ImageFont.load_default(size=TITLE_SIZE)
    draw.text((width // 2, TITLE_BAND // 2), title, fill=fill, font=font, anchor="mm")


def _palette_image(width: int, height: int) -> Image.Image:
    image = Image.new("P", (width, height), 0)
    image.putpalette(PALETTE)
    return image


def _draw(image: Image.Image) -> ImageDraw.ImageDraw:
    draw = ImageDraw.Draw(image)
    draw.fontmode = "L"  # antialiased: see PALETTE
    return draw


class PanelLayout:
    """Small multiples in a palette picture `width` pixels wide, whatever the number of tensors,
    so the MLflow UI's full view shows it legibly: a title band, then a panel per name, four a
    row, each the name above a framed box and room for its value range below. The static parts
    are drawn once into `background`, which each picture copies."""

    def __init__(self, title: str, names: Sequence[str], width: int = PICTURE_WIDTH) -> None:
        self.names = list(names)
        rows, columns = _grid(len(self.names))
        panel_width = width // PANEL_COLUMNS
        self.font = ImageFont.load_default(size=FONT_SIZE)
        self._title_font = ImageFont.load_default(size=TITLE_SIZE)
        self._labels: dict[tuple[str, int], Image.Image] = {}  # see `_label`
        self.background = _palette_image(width, TITLE_BAND + rows * PANEL_HEIGHT)
        draw = _draw(self.background)
        draw_title(draw, width, title, BLACK)
        self.boxes = []  # (left, top, right, bottom) of each panel's box, in pixels
        for i, name in enumerate(self.names):
            row, column = divmod(i, columns)
            left = column * panel_width + MARGIN
            top = TITLE_BAND + row * PANEL_HEIGHT
            box = (left, top + LABEL_BAND, left + panel_width - 2 * MARGIN, top + PANEL_HEIGHT - 22)
            self.boxes.append(box)
            draw.rectangle(box, outline=FRAME_GRAY)
            draw.text((left, top + 4), name, fill=BLACK, font=self.font)

    def picture(self, corner: str = "") -> Image.Image:
        """A copy of the background, `corner` (e.g. the epoch) at the title band's left."""
        image = self.background.copy()
        if corner:
            label = self._label(corner, self._title_font)
            image.paste(BLACK, (MARGIN, (TITLE_BAND - label.height) // 2), label)
        return image

    def label_range(self, image: Image.Image, box: tuple, text: str) -> None:
        """ "low, high" under a panel's box, at its left and right ends."""
        left, _, right, bottom = box
        low, high = (self._label(part, self.font) for part in text.split(", "))
        image.paste(LABEL_GRAY, (left, bottom + 1), low)
        image.paste(LABEL_GRAY, (right - high.width, bottom + 1), high)

    def _label(self, text: str, font: ImageFont.FreeTypeFont) -> Image.Image:
        """`text` as an antialiasing mask, drawn once: ranges recur from epoch to epoch, and
        drawing text is most of what a picture costs."""
        key = (text, int(font.size))
        mask = self._labels.get(key)
        if mask is None:
            if len(self._labels) >= MAX_LABELS:
                self._labels.clear()
            _, _, right, bottom = font.getbbox(text)
            mask = Image.new("L", (right, bottom), 0)
            ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=font)
            self._labels[key] = mask
        return mask


class HistogramPanels:
    """One picture per kind and epoch: a small multiple per tensor, each on its own value range.

    Drawn with PIL straight into palette pixels, since it runs inside training: bars are
    rectangles and the few labels one FreeType font, a couple of milliseconds a picture where
    matplotlib took ~30 ms.
    """

    def __init__(self, kind: str, names: Sequence[str], width: int = PICTURE_WIDTH) -> None:
        title = f"{kind}: histogram per tensor, each over its own min..max"
        self.layout = PanelLayout(title, names, width)

    def render(self, epoch: int, histograms: dict[str, Histogram]) -> Image.Image:
        image = self.layout.picture(f"epoch {epoch}")
        for name, box in zip(self.layout.names, self.layout.boxes, strict=True):
            hist = histograms[name]
            left, top, right, bottom = box
            image.paste(bars(hist.counts, right - left - 1, bottom - top - 1), (left + 1, top + 1))
            self.layout.label_range(image, box, range_text(*map(float, hist.edges[[0, -1]])))
        return image


def bars(counts: np.ndarray, width: int, height: int) -> Image.Image:
    """A bar per count, the highest `height` - 1 pixels tall, a pixel apart, `width` pixels in
    all: one numpy comparison, where a rectangle per bar costs a PIL call each."""
    tops = height - 1 - ((height - 1) * counts / max(int(counts.max()), 1)).round().astype(int)
    tops[counts == 0] = height  # an empty bin shows nothing, any other at least a pixel
    column_tops = np.append(tops, height)[_bar_columns(len(counts), width)]
    pixels = np.multiply(np.arange(height)[:, None] >= column_tops, BAR, dtype="uint8")
    return Image.frombytes("P", (width, height), pixels.tobytes())


@functools.lru_cache(maxsize=16)
def _bar_columns(bins: int, width: int) -> np.ndarray:
    """Each pixel column's bin, or `bins` (no bar) for the column before each bar."""
    edges = np.linspace(0, width, bins + 1).round().astype(int)
    columns = np.repeat(np.arange(bins), np.diff(edges))
    columns[edges[1:-1][np.diff(edges)[:-1] > 1] - 1] = bins
    return columns


def stack(pictures: Sequence[Image.Image]) -> Image.Image:
    """Pictures of one width one above the other: an epoch's kinds in one picture, one upload."""
    out = _palette_image(pictures[0].width, sum(p.height for p in pictures))
    top = 0
    for picture in pictures:
        out.paste(picture, (0, top))
        top += picture.height
    return out


class GifWriter:
    """An animated GIF written a frame at a time as the frames come, with Pillow's `getheader` and
    `getdata`: no frame is kept in memory, and nothing is left to encode at the end of the run.
    Every frame must have the first one's palette, as `HistogramPanels` pictures do."""

    def __init__(self, path: Path, seconds_per_frame: float = 0.5) -> None:
        self.path = path
        self.frames = 0
        self._milliseconds = int(seconds_per_frame * 1000)
        self._file: BinaryIO | None = None

    def add(self, image: Image.Image) -> None:
        if self._file is None:
            self._file = self.path.open("wb")
            info = {"loop": 0, "duration": self._milliseconds}
            header, _ = GifImagePlugin.getheader(image.copy(), info=info)  # it may change its image
            self._file.writelines(header)
        self._file.writelines(GifImagePlugin.getdata(image, duration=self._milliseconds))
        self.frames += 1

    def close(self) -> None:
        """Ends the file (the GIF trailer); a GIF with no frames has no file."""
        if self._file is not None:
            self._file.write(b";")
            self._file.close()
            self._file = None


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
    kind: str, epochs: Sequence[int], series: dict[str, list[Histogram]], bins: int
) -> Image.Image:
    """A heat-map per tensor: value across, epochs upwards, count as log colour: drift at a glance.

    Drawn like the per-epoch pictures (PIL, palette), each map scaled up from its epochs x bins.
    """
    title = f"{kind}: value across, epochs {epochs[0]}..{epochs[-1]} upwards, colour = count (log)"
    layout = PanelLayout(title, list(series))
    image = layout.picture()
    for hists, box in zip(series.values(), layout.boxes, strict=True):
        grid, edges = common_grid(hists, bins)
        scale = np.log(grid.clip(min=1)) / np.log(max(int(grid.max()), 2))  # 1 -> 0, max -> 1
        pixels = np.where(grid > 0, HEAT_START + (scale * (HEAT - 1)).round(), 0).astype("uint8")
        heat = Image.frombytes("P", grid.shape[::-1], pixels[::-1].tobytes())  # epoch 0 lowest
        left, top, right, bottom = box
        image.paste(
            heat.resize((right - left - 1, bottom - top - 1), Image.Resampling.NEAREST),
            (left + 1, top + 1),
        )
        layout.label_range(image, box, f"{edges[0]:.3g}, {edges[-1]:.3g}")
    return image
