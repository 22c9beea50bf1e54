"""One path image -> model input (prepare_batch) and one path model grid -> pixels (grid_to_pixels)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from shared_models import make_manifest

from engine.errors import ShapeError
from engine.preprocess import InputGeometry, frame_pixels, prepare_batch, to_model_input
from engine.sampling import GridAlignment, grid_to_pixels, resize_alignment, sample_grid


# --- grid -> pixels ------------------------------------------------------------------------------
def _reference_letterbox(maps: torch.Tensor, g: InputGeometry) -> torch.Tensor:
    """Tile centres written out directly: image pixel centre -> model coordinate -> grid_sample."""
    h, w = g.image_size
    hm, wm = g.model_size
    ys = [((i + 0.5) * g.scale_y + g.offset_y) * 2 / hm - 1 for i in range(h)]
    xs = [((j + 0.5) * g.scale_x + g.offset_x) * 2 / wm - 1 for j in range(w)]
    grid = torch.tensor([[[x, y] for x in xs] for y in ys], dtype=torch.float32)[None]
    return F.grid_sample(maps[:, None], grid.expand(maps.shape[0], -1, -1, -1), mode="bilinear",
                         padding_mode="border", align_corners=False)[:, 0]


def _grid_sample_reference(maps: torch.Tensor, al: GridAlignment, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """The former implementation: the meshgrid of positions through ``F.grid_sample``."""
    h, w = maps.shape[-2:]
    gy = (2.0 * ((ys.double() - 0.5 - al.by) / al.ay + 0.5) / h - 1.0).float()
    gx = (2.0 * ((xs.double() - 0.5 - al.bx) / al.ax + 0.5) / w - 1.0).float()
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None]
    return F.grid_sample(maps[:, None].float(), grid.expand(maps.shape[0], -1, -1, -1), mode="bilinear",
                         padding_mode="border", align_corners=False)[:, 0]


@pytest.mark.parametrize(("grid", "size", "al"), [
    ((7, 7), (224, 224), (32.0, 15.5, 32.0, 15.5)),  # tile centres
    ((14, 9), (301, 187), (16.0, 4.0, 21.0, -3.0)),  # receptive-field centres off the tiles, non-square
    ((1, 5), (50, 80), (50.0, 24.5, 16.0, 7.5)),  # a single row of cells
    ((12, 12), (192, 192), (16.0, 7.5, 16.0, 7.5)),
])
def test_separable_sampling_equals_grid_sample(grid, size, al):
    rng = np.random.default_rng(sum(size))
    maps = torch.from_numpy(rng.normal(size=(3, *grid)).astype(np.float32))
    maps[1] = 0.0
    maps[2, 0, 0] = 1e4  # a large value next to small ones
    alignment = GridAlignment(al[0], al[1], al[2], al[3], grid)
    # positions inside, between and beyond the outermost cell centres (border padding), some repeated
    ys = torch.cat([torch.linspace(-20.0, size[0] + 20.0, 97, dtype=torch.float64), torch.tensor([0.5, 0.5])])
    xs = torch.linspace(-3.0, size[1] + 3.0, 61, dtype=torch.float64)
    got = sample_grid(maps, alignment, ys, xs)
    want = _grid_sample_reference(maps, alignment, ys, xs)
    assert got.dtype == torch.float32 and got.shape == want.shape
    for g, ref, m in zip(got, want, maps, strict=True):  # float32 rounding of each map's own scale
        assert torch.allclose(g, ref, rtol=1e-5, atol=1e-6 * max(1.0, float(m.abs().max())))
    assert (got[1] == 0).all()


def test_tile_centres_on_a_letterboxed_image_match_the_direct_formula():
    g = InputGeometry.fit((90, 150), (64, 64), "letterbox")
    maps = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(0))
    got = grid_to_pixels(maps, g, "image")
    torch.testing.assert_close(got, _reference_letterbox(maps, g), atol=1e-5, rtol=0)
    # tile centres are just resize_alignment: passing it explicitly gives the same
    torch.testing.assert_close(grid_to_pixels(maps, g, "image", resize_alignment((8, 8), (64, 64))), got,
                               atol=1e-5, rtol=0)


def test_model_space_and_stretch_are_plain_resizes_at_any_size():
    maps = torch.rand(1, 7, 7, generator=torch.Generator().manual_seed(1))
    g = InputGeometry.fit((300, 200), (224, 224), "stretch")
    for space, own in (("model", (224, 224)), ("image", (300, 200))):
        for size in (None, (97, 61), (512, 700)):
            expected = F.interpolate(maps[:, None], size=size or own, mode="bilinear", align_corners=False,
                                     antialias=bool(size and size[0] < 7))[:, 0]
            torch.testing.assert_close(grid_to_pixels(maps, g, space, size=size), expected)


def test_drawing_at_another_size_samples_the_same_field():
    """An aligned map drawn at 3x the image size equals the 1x map at every third pixel's centre."""
    g = InputGeometry.fit((40, 60), (32, 32), "letterbox")
    a = GridAlignment(4.0, 0.0, 4.0, 0.0, (8, 8))
    maps = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(2))
    small = grid_to_pixels(maps, g, "image", a)[0]
    big = grid_to_pixels(maps, g, "image", a, size=(120, 180))[0]
    # big pixel 3i + 1 has its centre at (3i + 1.5) / 3 = i + 0.5, small pixel i's centre
    torch.testing.assert_close(big[1::3, 1::3], small, atol=1e-5, rtol=0)


def test_receptive_field_alignment_puts_cell_centres_on_their_pixels():
    """Cell i centred on model pixel 4i (centre 4i + 0.5): that pixel gets exactly the cell's value."""
    g = InputGeometry.fit((32, 32), (32, 32), "stretch")
    a = GridAlignment(4.0, 0.0, 4.0, 0.0, (8, 8))
    maps = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(3))
    out = grid_to_pixels(maps, g, "model", a)[0]
    torch.testing.assert_close(out[0:32:4, 0:32:4], maps[0], atol=1e-6, rtol=0)
    with pytest.raises(Exception, match="does not match"):
        sample_grid(torch.rand(1, 4, 4), a, torch.zeros(1), torch.zeros(1))


def test_explanation_map_at_a_size_uses_the_same_sampling(resnet_pair):
    from engine.explainers.api import explain

    model, _ = resnet_pair
    img = np.random.default_rng(0).random((100, 140)).astype(np.float32)
    r = explain(model, img, "gradcam", layers="layer3")
    full = r.map(0)
    big = r.map(0, size=(300, 420))
    np.testing.assert_allclose(big[1::3, 1::3], full, atol=1e-5)
    assert r.map(0).shape == (100, 140)  # the sized call did not replace the cached map


# --- image -> model input ------------------------------------------------------------------------
@pytest.mark.parametrize("resize", ["stretch", "letterbox"])
def test_prepare_batch_equals_one_image_at_a_time(resize):
    man = make_manifest("tiny", 3, 32, resize=resize)
    rng = np.random.default_rng(4)
    imgs = rng.random((3, 48, 40, 3)).astype(np.float32)
    g = InputGeometry.fit((48, 40), (32, 32), resize)
    batch = prepare_batch(imgs, man, g)
    for k in range(3):
        torch.testing.assert_close(batch[k], to_model_input(imgs[k], man)[0][0])


def test_frame_pixels_luma_letterbox_and_normalisation_known_answers():
    man = make_manifest("tiny", 3, 16, resize="letterbox", in_channels=1, mean=(0.5,), std=(0.25,))
    img = np.empty((8, 16, 3), np.float32)
    img[...] = (0.2, 0.6, 1.0)
    g = InputGeometry.fit((8, 16), (16, 16), "letterbox")
    assert g.content_box == (0, 4, 16, 12)
    pix = frame_pixels(img[None], man, g)[0, 0]
    luma = 0.299 * 0.2 + 0.587 * 0.6 + 0.114 * 1.0
    np.testing.assert_allclose(pix[4:12].numpy(), luma, atol=1e-6)
    assert float(pix[:4].abs().max()) == 0.0 and float(pix[12:].abs().max()) == 0.0
    x = prepare_batch(img[None], man, g)[0, 0]
    np.testing.assert_allclose(x[4:12].numpy(), (luma - 0.5) / 0.25, atol=1e-5)
    np.testing.assert_allclose(x[:4].numpy(), -2.0)
    with pytest.raises(ShapeError):
        prepare_batch(img[None], man, InputGeometry.fit((9, 16), (16, 16), "letterbox"))
    with pytest.raises(ShapeError):
        prepare_batch(img[None], man, None)  # not model-input sized
