"""Pictures of an evaluation: the confusion matrix and the worst mistakes, drawn with PIL as
`plotting` draws the histograms (milliseconds, where a matplotlib figure took ~0.1-0.3 s)."""

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from blueprint.diagnostics.plotting import FONT_SIZE, MARGIN, TITLE_BAND, draw_title

SPLIT_TITLES = {"val": "validation", "test": "test"}  # how pictures name a split


def _text_width(font: ImageFont.FreeTypeFont, text: str) -> int:
    return math.ceil(font.getlength(text))


def _blues(shares: np.ndarray) -> np.ndarray:
    """Colours (..., 3) from light (share 0) to dark blue (share 1), like matplotlib's Blues."""
    light, dark = np.array([247, 251, 255]), np.array([8, 48, 107])
    return (light + (dark - light) * shares[..., None]).round().astype("uint8")


def confusion_matrix_picture(
    matrix: np.ndarray, class_names: Sequence[str], split: str = SPLIT_TITLES["val"]
) -> Image.Image:
    """Counts with true class on rows and predicted class on columns, annotated up to 20 classes;
    column names run upwards when they are wider than a cell."""
    count = len(class_names)
    font = ImageFont.load_default(size=FONT_SIZE)
    cell = max(8, min(48, 720 // count))
    widest = max(_text_width(font, name) for name in class_names)
    upright = widest > cell - 4  # column names drawn rotated
    left = widest + 40  # room for "true" and the row names
    top = TITLE_BAND + 8
    bottom = (widest if upright else FONT_SIZE + 4) + 36  # column names and "predicted"
    width = max(left + count * cell + MARGIN, _text_width(font, split) + 240)
    image = Image.new("RGB", (width, top + count * cell + bottom), "white")
    draw = ImageDraw.Draw(image)
    draw_title(draw, width, f"{split} confusion matrix", "black")
    shares = matrix / max(int(matrix.max()), 1)
    cells = _blues(shares).repeat(cell, axis=0).repeat(cell, axis=1)
    image.paste(Image.fromarray(cells), (left, top))
    for i, name in enumerate(class_names):
        middle = top + i * cell + cell // 2
        draw.text((left - 6, middle), name, fill="black", font=font, anchor="rm")
        centre = left + i * cell + cell // 2
        if upright:
            label = _upright(name, font)
            image.paste("black", (centre - label.width // 2, top + count * cell + 4), label)
        else:
            draw.text((centre, top + count * cell + 4), name, fill="black", font=font, anchor="ma")
    if count <= 20:
        for (row, column), value in np.ndenumerate(matrix):
            draw.text(
                (left + column * cell + cell // 2, top + row * cell + cell // 2),
                str(value),
                fill="white" if shares[row, column] > 0.5 else "black",
                font=font,
                anchor="mm",
            )
    draw.text(
        (left + count * cell // 2, image.height - 6),
        "predicted",
        fill="black",
        font=font,
        anchor="md",
    )
    true_label = _upright("true", font)
    image.paste("black", (6, top + count * cell // 2 - true_label.height // 2), true_label)
    return image


def _upright(text: str, font: ImageFont.FreeTypeFont) -> Image.Image:
    """`text` as a mask that reads upwards (an axis label, a column name wider than its cell)."""
    mask = Image.new("L", (_text_width(font, text) + 2, FONT_SIZE + 4), 0)
    ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=font)
    return mask.rotate(90, expand=True)


def image_grid(images: np.ndarray, titles: Sequence[str], heading: str) -> Image.Image:
    """Images (n, h, w, channels), each on its own 0..1 scale and enlarged to at least 96 pixels,
    tiled with a caption above each, under `heading`."""
    count, height, width = images.shape[:3]
    font = ImageFont.load_default(size=FONT_SIZE - 2)
    zoom = max(1, math.ceil(96 / max(height, width)))
    tile = (width * zoom, height * zoom)
    column_width = max(tile[0], max(_text_width(font, t) for t in titles)) + 2 * MARGIN
    columns = max(1, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    row_height = tile[1] + FONT_SIZE + 12
    picture = Image.new("RGB", (columns * column_width, TITLE_BAND + rows * row_height), "white")
    draw = ImageDraw.Draw(picture)
    draw_title(draw, picture.width, heading, "black")
    scale = np.max(images.reshape(count, -1), axis=1).clip(min=1e-12)
    tiles = (255 * images / scale[:, None, None, None]).clip(0, 255).astype("uint8")
    for i, (pixels, title) in enumerate(zip(tiles, titles, strict=True)):
        row, column = divmod(i, columns)
        centre = column * column_width + column_width // 2
        caption_top = TITLE_BAND + row * row_height
        draw.text((centre, caption_top + 2), title, fill="black", font=font, anchor="ma")
        shown = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
        shown = shown.resize(tile, Image.Resampling.NEAREST)
        picture.paste(shown, (centre - tile[0] // 2, caption_top + FONT_SIZE + 8))
    return picture


PANEL = 320  # pixels: the side of a scatter panel
Span = tuple[float, float]


def residual_picture(true: np.ndarray, predicted: np.ndarray, split: str) -> Image.Image:
    """Two scatter panels: predicted against true value (on the red diagonal when right) and
    the residual (predicted - true) against the true value (on the red zero line when right)."""
    residual = predicted - true
    font = ImageFont.load_default(size=FONT_SIZE - 2)
    left, gap, bottom = 56, 70, 44
    width = left + 2 * PANEL + gap + MARGIN
    picture = Image.new("RGB", (width, TITLE_BAND + 24 + PANEL + bottom), "white")
    draw = ImageDraw.Draw(picture)
    draw_title(draw, width, f"{split} residuals ({len(true)} images)", "black")
    span = _span(np.concatenate([true, predicted]))
    residual_span = _span(np.append(residual, 0.0))
    top = TITLE_BAND + 24
    _scatter(draw, font, (left, top), true, predicted, span, span, "predicted vs true", span)
    corner = (left + PANEL + gap, top)
    _scatter(draw, font, corner, true, residual, span, residual_span, "residual vs true", (0, 0))
    return picture


def _scatter(
    draw: ImageDraw.ImageDraw,
    font: ImageFont.FreeTypeFont,
    corner: tuple[int, int],
    xs: np.ndarray,
    ys: np.ndarray,
    x_span: Span,
    y_span: Span,
    name: str,
    line: Span,
) -> None:
    """One framed panel of points, with the reference line from (x low, line[0]) to
    (x high, line[1]) and each axis's range written at its ends."""
    x0, y0 = corner

    def position(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fx = (np.asarray(x, dtype="float64") - x_span[0]) / (x_span[1] - x_span[0])
        fy = (np.asarray(y, dtype="float64") - y_span[0]) / (y_span[1] - y_span[0])
        return x0 + fx * PANEL, y0 + PANEL - fy * PANEL

    draw.text((x0 + PANEL // 2, y0 - 4), name, fill="black", font=font, anchor="md")
    draw.rectangle((x0, y0, x0 + PANEL, y0 + PANEL), outline=(153, 153, 153))
    ends_x, ends_y = position(np.array(x_span), np.array(line))
    draw.line([*zip(ends_x.tolist(), ends_y.tolist(), strict=True)], fill=(214, 39, 40))
    for px, py in zip(*position(xs, ys), strict=True):
        draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=(31, 119, 180))
    for text, at, anchor in (
        (f"{x_span[0]:.3g}", (x0, y0 + PANEL + 4), "la"),
        (f"{x_span[1]:.3g}", (x0 + PANEL, y0 + PANEL + 4), "ra"),
        (f"{y_span[0]:.3g}", (x0 - 4, y0 + PANEL), "rd"),
        (f"{y_span[1]:.3g}", (x0 - 4, y0), "ra"),
        ("true", (x0 + PANEL // 2, y0 + PANEL + 22), "ma"),
    ):
        draw.text(at, text, fill="black", font=font, anchor=anchor)


def _span(values: np.ndarray) -> Span:
    """The range of `values` with a 5% margin each side (never empty)."""
    low, high = float(np.min(values)), float(np.max(values))
    pad = 0.05 * (high - low) or 0.5 * max(abs(low), 1e-6)
    return low - pad, high + pad
