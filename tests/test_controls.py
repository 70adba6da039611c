"""Controls are exact edits in motion space: each one changes what it says and nothing else."""

import numpy as np
import pytest

from talkinghead.errors import InvalidControlError
from talkinghead.motion.channels import CHANNEL_INDEX, EXPRESSION_SLICE, MOUTH_CHANNELS, MOTION_DIM, NEUTRAL
from talkinghead.motion.controls import Controls, apply_controls, blink_curve

FPS = 25


@pytest.fixture
def motion():
    rng = np.random.default_rng(0)
    m = np.tile(np.asarray(NEUTRAL, np.float32), (200, 1))
    m[:, :3] = rng.normal(0, 4, (200, 3))  # yaw, pitch, roll
    m[:, 3:5] = rng.normal(0, 0.02, (200, 2))
    m[:, EXPRESSION_SLICE] = rng.uniform(0, 0.5, (200, 29))
    return m


def test_defaults_only_add_blinks(motion):
    out = apply_controls(motion, Controls(blink_rate=0), FPS)
    np.testing.assert_allclose(out, motion, atol=1e-6)


def test_still_freezes_pose(motion):
    out = apply_controls(motion, Controls(still=True), FPS)
    assert np.ptp(out[:, :6], axis=0).max() == 0
    np.testing.assert_allclose(out[:, EXPRESSION_SLICE], apply_controls(motion, Controls(), FPS)[:, EXPRESSION_SLICE])


def test_pose_scale_and_offset(motion):
    half = apply_controls(motion, Controls(pose_scale=0.5, pose_offset=(10, 0, -5)), FPS)
    np.testing.assert_allclose(half[:, 0], 0.5 * motion[:, 0] + 10, atol=1e-5)
    np.testing.assert_allclose(half[:, 2], 0.5 * motion[:, 2] - 5, atol=1e-5)
    np.testing.assert_allclose(half[:, 5], 1.0, atol=1e-6)  # scale stays 1 at rest


def test_mouth_scale_zero_closes_mouth(motion):
    out = apply_controls(motion, Controls(mouth_scale=0.0), FPS)
    assert out[:, [CHANNEL_INDEX[n] for n in MOUTH_CHANNELS]].max() == 0


def test_expression_preset_adds_its_channels(motion):
    out = apply_controls(motion, Controls(expression="happy", expression_intensity=1.0, blink_rate=0), FPS)
    smile = CHANNEL_INDEX["mouthSmileLeft"]
    assert (out[:, smile] >= motion[:, smile]).all() and out[:, smile].mean() > motion[:, smile].mean() + 0.4
    assert out[:, EXPRESSION_SLICE].max() <= 1.0


def test_gaze_sets_gaze(motion):
    out = apply_controls(motion, Controls(gaze=(0.5, -0.25)), FPS)
    assert (out[:, CHANNEL_INDEX["gazeX"]] == 0.5).all() and (out[:, CHANNEL_INDEX["gazeY"]] == -0.25).all()


def test_blink_rate_changes_blink_count():
    def count(rate):
        c = blink_curve(25 * 600, FPS, rate, 0.25, seed=1)
        return int(((c[1:] > 0.5) & (c[:-1] <= 0.5)).sum())
    assert count(0) == 0
    few, many = count(6), count(30)
    assert 30 <= few <= 90 and 200 <= many <= 420, (few, many)
    c = blink_curve(500, FPS, 20, 0.25, seed=2)
    assert c.max() > 0.95 and c.min() == 0


@pytest.mark.parametrize("kwargs", [
    {"pose_scale": 3}, {"pose_scale": "big"}, {"pose_scale": float("nan")}, {"expression": "smug"},
    {"gaze": (2, 0)}, {"gaze": 1}, {"still": "yes"}, {"blink_rate": -1}, {"pose_offset": (1, 2)},
])
def test_bad_controls_raise(kwargs):
    with pytest.raises(InvalidControlError):
        Controls.from_kwargs(**kwargs)


def test_unknown_control_lists_known_ones():
    with pytest.raises(InvalidControlError, match="known controls"):
        Controls.from_kwargs(smile=1)


def test_blinks_windowed_equal_blinks_at_once(motion):
    """A stream edited window by window gets the same blinks as the whole sequence (streaming == offline)."""
    whole = apply_controls(motion, Controls(blink_rate=40), FPS, seed=5)
    parts = [apply_controls(motion[s:s + 7], Controls(blink_rate=40), FPS, seed=5, start_frame=s)
             for s in range(0, len(motion), 7)]
    np.testing.assert_array_equal(whole, np.concatenate(parts))
