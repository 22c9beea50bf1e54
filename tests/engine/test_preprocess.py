"""Image -> model input, and coordinates both ways."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ShapeError
from engine.models.manifest import ModelManifest
from engine.preprocess import InputGeometry, as_unit_image, maps_to_image, resample_maps, to_model_input


def manifest(policy="stretch", channels=3, size=(64, 64)):
    return ModelManifest(
        name="m", version="1", architecture="resnet18", class_names=("a",), input_size=size, resize=policy,
        in_channels=channels, mean=(0.5,) * channels, std=(0.25,) * channels,
    )


@given(
    h=st.integers(2, 4000), w=st.integers(2, 4000), policy=st.sampled_from(["stretch", "letterbox"]),
    x=st.floats(0, 1), y=st.floats(0, 1),
)
def test_coordinates_round_trip(h, w, policy, x, y):
    g = InputGeometry.fit((h, w), (224, 224), policy)
    p = np.array([x * w, y * h])
    np.testing.assert_allclose(g.model_to_image(g.image_to_model(p)), p, rtol=1e-9, atol=1e-9)
    q = g.image_to_model(p)
    x0, y0, x1, y1 = g.content_box
    assert x0 - 1e-9 <= q[0] <= x1 + 1e-9 and y0 - 1e-9 <= q[1] <= y1 + 1e-9


def test_letterbox_places_the_image_centred_and_pads_black():
    img = np.ones((100, 200), np.float32)
    x, g, _ = to_model_input(img, manifest("letterbox"))
    assert g.content_box == (0, 16, 64, 48)
    pixels = x[0, 0] * 0.25 + 0.5
    assert torch.allclose(pixels[16:48], torch.ones(32, 64))
    assert torch.allclose(pixels[:16], torch.zeros(16, 64)) and torch.allclose(pixels[48:], torch.zeros(16, 64))


def test_stretch_and_normalisation_known_values():
    img = np.full((10, 20), 128, np.uint8)
    x, g, scaling = to_model_input(img, manifest())
    assert scaling == "uint8/255"
    assert x.shape == (1, 3, 64, 64)
    torch.testing.assert_close(x, torch.full_like(x, (128 / 255 - 0.5) / 0.25))
    assert (g.scale_x, g.scale_y) == (64 / 20, 64 / 10)


def test_colour_to_one_channel_uses_luminance():
    img = np.zeros((8, 8, 3), np.float32)
    img[..., 1] = 1.0
    x, _, _ = to_model_input(img, manifest(channels=1, size=(8, 8)))
    torch.testing.assert_close(x[0, 0] * 0.25 + 0.5, torch.full((8, 8), 0.587))


def test_integer_images_are_min_max_scaled_and_recorded():
    img = np.array([[1000, 3000], [2000, 1000]], np.uint16)
    unit, how = as_unit_image(img)
    np.testing.assert_allclose(unit, [[0.0, 1.0], [0.5, 0.0]])
    assert "min-max" in how


@pytest.mark.parametrize("shape", [(5,), (4, 4, 2), (1, 8)])
def test_bad_shapes_are_typed_errors(shape):
    with pytest.raises(ShapeError):
        as_unit_image(np.zeros(shape, np.float32))


def test_maps_to_image_equals_plain_resize_for_stretch_and_grid_sample_agrees():
    maps = torch.rand(2, 7, 7)
    g = InputGeometry.fit((300, 200), (224, 224), "stretch")
    direct = maps_to_image(maps, g)
    torch.testing.assert_close(direct, resample_maps(maps, (300, 200)))
    # the letterbox path (grid_sample) gives the same on a stretch-like geometry
    g2 = InputGeometry((300, 200), (224, 224), "letterbox", 224 / 200, 224 / 300, 0.0, 0.0)
    torch.testing.assert_close(maps_to_image(maps, g2), direct, atol=1e-5, rtol=1e-5)


def test_letterbox_maps_land_on_the_image_pixels():
    """A map that is 1 inside the content box and 0 on the padding maps back to all ones."""
    g = InputGeometry.fit((100, 300), (96, 96), "letterbox")
    x0, y0, x1, y1 = g.content_box
    m = torch.zeros(1, 96, 96)
    m[0, y0:y1, x0:x1] = 1.0
    back = maps_to_image(m, g)[0]
    assert back.shape == (100, 300)
    assert float(back[2:-2, 2:-2].min()) > 0.99
