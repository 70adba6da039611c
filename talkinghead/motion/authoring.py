"""Procedural authoring of the rig's displacement fields (used by :mod:`talkinghead.motion.rig`).

Every field is ``weight(landmark) * displacement``. The two parts come from different faces:

* **weights** (which landmarks a channel moves, and how much relative to the others) are
  attributes of the landmark *indices*: they are computed on a fixed reference face (MediaPipe's
  canonical face, whose lips and lids are cleanly apart), so they never flip when a portrait's
  lips overlap or its eyes are half shut;
* **displacements** that depend on anatomy are measured on the face the rig is built for: the
  lid gap a blink closes, the lip thickness a roll removes, the jaw's rotation about its hinge.
  Face curves are looked up at each landmark's *reference* x, so fields change smoothly with the
  face.

Units: canonical frame, 1 = inter-ocular distance (IOD); x to the image's right (the subject's
left), y down, z away from the camera. ``s = +1`` is the subject's left side, ``-1`` the right.
All falloffs are C2-smooth (smoothstep / Wendland bumps), so the warp renderer sees no creases.
"""

from __future__ import annotations

import math

import numpy as np

from ..face import landmarks as L

NUM_POINTS = L.NUM_LANDMARKS  # 478
SIDES = {"Left": 1.0, "Right": -1.0}  # subject's left is +x in the canonical frame

# --- jaw ------------------------------------------------------------------------------
JAW_HINGE_YZ = (0.50, 1.0)  # effective opening axis (parallel to x): just below ear level, behind the cheeks
JAW_ANGLE_DEG = 26.0  # full opening; drops the inner lower lip ~0.55 IOD (~3.5 cm), a wide-open mouth
JAW_GLIDE = (0.0, 0.02, -0.18)  # the condyles glide forward as the jaw opens (the lower lip barely retracts)
JAW_BAND_AT_LIPS = 0.012  # half-width of the upper/lower weight transition between the lips
JAW_BAND_SPREAD = 0.5  # ... widening per IOD lateral of the mouth corners (cheek skin stretches)
JAW_BAND_DROP = 0.25  # ... and its centre moving down per IOD lateral (cheeks above stay put)
JAW_CORNER_NARROW = 0.03  # corners move in as the mouth opens
JAW_CORNER_RADIUS = 0.25
CLOSE_LOWER_SHARE = 0.8  # mouthClose: share of the jaw's lip gap the lower lip takes back

# --- lips -----------------------------------------------------------------------------
LIP_SKIN_BELOW = (0.02, 0.20)  # lower-lip weight: full to this far below the vermilion, zero beyond
LIP_SKIN_ABOVE = (0.02, 0.18)  # upper-lip weight: the same, upwards (philtrum)
LIP_LATERAL = 0.15  # lip weights fade out this far beyond the corners
# mouthFunnel: the lips flare open into a round "O" (each lip moves `opening` away from the mouth line over
# the middle of the mouth, a broad profile rather than a slit), the mouth narrows a little and the lips
# come forward. mouthPucker: the closed lips gather (the mouth narrows strongly, the inner lips press
# lightly together: `press`), pout (each vermilion border moves `pout` away from the closed mouth line
# while the inner border stays) and push forward, the corners most.
FUNNEL = {"narrow": 0.14, "opening": 0.075, "forward": 0.12}
PUCKER = {"narrow": 0.40, "press": 0.01, "pout": 0.035, "forward": 0.16, "corner_forward": 0.08,
          "corner_radius": 0.25}
CORNER_FIELD = {  # (dx outwards, dy, dz) at the corner and the ellipse radii (rx, ry) of its falloff
    "mouthSmile": ((0.07, -0.08, 0.03), (0.42, 0.38)),
    "mouthFrown": ((0.015, 0.07, 0.0), (0.38, 0.32)),
    "mouthStretch": ((0.08, 0.015, 0.02), (0.45, 0.30)),
}
SMILE_CHEEK = {"centre": (0.52, 0.55), "radius": (0.32, 0.32), "lift": 0.045, "forward": 0.015}
STRETCH_THIN = 0.3  # lips flatten towards the mouth line
# mouthStretch also draws the whole lip on its side sideways (a ramp from the far corner, where it is
# 0, to this corner: the lips elongate, unlike a smile's or frown's pull at the corner only) and the
# lateral lower lip a little down (platysma): (dx at the corner, dy of the lower lip there).
STRETCH_LIP = (0.03, 0.02)
LIP_SIDE_FIELD = {"x": 0.17, "radius": (0.32, 0.26), "move": 0.085}  # mouthUpperUp / mouthLowerDown
ROLL = {"thin": 0.6, "back": 0.06, "inner": 0.01}  # vermilion rolls in: its height shrinks by `thin`
# mouthPress: the lips on one side compress against each other, the lower lip most (ARKit: "upward
# compression of the lower lip"): each lip's height shrinks by its `thin` share towards the mouth line.
PRESS = {"close": 0.015, "thin_upper": 0.15, "thin_lower": 0.4, "back": 0.015, "side_blend": 0.2}

# --- eyes, brows, cheeks --------------------------------------------------------------
BLINK_UPPER, BLINK_LOWER = 0.9, 0.1  # shares of the lid gap each lid travels (they meet)
WIDE_UPPER, WIDE_LOWER = 0.5, 0.15
LID_SKIN_ABOVE = 0.12  # a closing lid stretches its own skin, fading to zero this far up
WIDE_SKIN_ABOVE = 0.3  # a raised lid folds the skin above it, up towards the brow
LID_SKIN_BELOW = 0.10
BROW = {"inner_up": 0.12, "inner_in": 0.012, "down": 0.07, "down_in": 0.025, "outer_up": 0.10,
        "forehead_reach": 0.55, "down_forehead_reach": 0.35, "min_room": 0.05, "inner_in_blend": 0.1}
# browInnerUp lifts the medial part of each brow and browOuterUp the lateral part; their weights along
# the brow (|x|, IOD; the brow runs from ~0.2 to ~0.85) cross over this span and sum to one, so inner +
# both outer raise the whole brow evenly while innerUp alone tilts the brows (medial ends up).
BROW_SPLIT = (0.2, 0.6)
BROW_OUTER_END = (1.05, 1.25)  # browOuterUp fades out beyond the brow's tail
CHEEK_SQUINT = {"centre": (0.50, 0.28), "radius": (0.36, 0.26), "lift": 0.045, "forward": 0.01,
                "lid_push": 0.3}
GAZE_X, GAZE_Y = 0.45, 0.30  # iris shift at |gaze| = 1, in eye half-widths (~28 and ~18 degrees)


# ======================================================================= primitives
def smoothstep(lo, hi, x):
    """0 below ``lo``, 1 above ``hi``, C1 cubic in between."""
    t = np.clip((np.asarray(x, dtype=np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def bump(u):
    """C2 compactly supported falloff (Wendland): 1 at u = 0, 0 for |u| >= 1, flat at both ends."""
    u = np.clip(np.abs(u), 0.0, 1.0)
    return (1.0 - u) ** 4 * (4.0 * u + 1.0)


def field(dx=0.0, dy=0.0, dz=0.0) -> np.ndarray:
    """Stack per-point components (scalars or (478,) arrays) into a (478, 3) displacement field."""
    return np.stack([np.broadcast_to(np.asarray(c, np.float64), (NUM_POINTS,)) for c in (dx, dy, dz)], axis=-1)


class Curve:
    """A landmark chain as y(x), z(x): x from the reference face, y and z from ``points``
    (linear interpolation, clamped at the ends)."""

    def __init__(self, reference: np.ndarray, points: np.ndarray, group):
        index = np.asarray(group)
        order = np.argsort(reference[index, 0], kind="stable")
        self.x = reference[index[order], 0]
        self.y, self.z = points[index[order], 1], points[index[order], 2]

    def y_at(self, x):
        return np.interp(x, self.x, self.y)

    def z_at(self, x):
        return np.interp(x, self.x, self.z)


class FaceGeometry:
    """Weights from ``reference``, measures from ``points`` (both (478, 3), canonical frame).

    ``x, y`` are the reference coordinates (used for every weight); ``fx, fy, fz`` the face's own.
    ``curves[name]`` hold the face's values, ``ref_curves[name]`` the reference's.
    """

    GROUPS = {
        "outer_upper": L.LIPS_OUTER_UPPER, "outer_lower": L.LIPS_OUTER_LOWER,
        "inner_upper": L.LIPS_INNER_UPPER, "inner_lower": L.LIPS_INNER_LOWER,
        "eye_upper_left": L.LEFT_EYE_UPPER, "eye_lower_left": L.LEFT_EYE_LOWER,
        "eye_upper_right": L.RIGHT_EYE_UPPER, "eye_lower_right": L.RIGHT_EYE_LOWER,
        "brow_upper_left": L.LEFT_EYEBROW_UPPER, "brow_lower_left": L.LEFT_EYEBROW_LOWER,
        "brow_upper_right": L.RIGHT_EYEBROW_UPPER, "brow_lower_right": L.RIGHT_EYEBROW_LOWER,
    }

    def __init__(self, points: np.ndarray, reference: np.ndarray | None = None):
        ref = points if reference is None else reference
        self.p, self.ref = points, ref
        self.x, self.y = ref[:, 0], ref[:, 1]
        self.fx, self.fy, self.fz = points.T
        self.curves = {n: Curve(ref, points, g) for n, g in self.GROUPS.items()}
        self.ref_curves = {n: Curve(ref, ref, g) for n, g in self.GROUPS.items()}
        self.corner = {1.0: ref[L.MOUTH_CORNER_LEFT], -1.0: ref[L.MOUTH_CORNER_RIGHT]}
        self.mouth_half = 0.5 * abs(ref[L.MOUTH_CORNER_LEFT, 0] - ref[L.MOUTH_CORNER_RIGHT, 0])
        self.inner_half = 0.5 * abs(ref[L.MOUTH_INNER_CORNER_LEFT, 0] - ref[L.MOUTH_INNER_CORNER_RIGHT, 0])
        self.ref_mouth_line = self._mouth_line(self.ref_curves)  # (478,)
        self.mouth_line = self._mouth_line(self.curves)  # (478,) the face's, at reference x
        self.jaw_weight = self._jaw_weight()
        below = self.y - self.ref_curves["outer_lower"].y_at(self.x)
        above = self.ref_curves["outer_upper"].y_at(self.x) - self.y
        self.lower_lip = self.jaw_weight * self._lip_falloff(below, LIP_SKIN_BELOW)
        self.upper_lip = (1.0 - self.jaw_weight) * self._lip_falloff(above, LIP_SKIN_ABOVE)

    def side(self, name: str, s: float) -> Curve:
        return self.curves[f"{name}_{'left' if s > 0 else 'right'}"]

    def ref_side(self, name: str, s: float) -> Curve:
        return self.ref_curves[f"{name}_{'left' if s > 0 else 'right'}"]

    def _mouth_line(self, curves) -> np.ndarray:
        return 0.5 * (curves["inner_upper"].y_at(self.x) + curves["inner_lower"].y_at(self.x))

    def _jaw_weight(self) -> np.ndarray:
        """(478,) 0 on the skull, 1 on the mandible; sharp between the lips, wide through the cheeks."""
        lateral = np.maximum(np.abs(self.x) - self.inner_half, 0.0)
        half = JAW_BAND_AT_LIPS + JAW_BAND_SPREAD * lateral
        centre = JAW_BAND_DROP * lateral
        return smoothstep(centre - half, centre + half, self.y - self.ref_mouth_line)

    def _lip_falloff(self, beyond: np.ndarray, extent) -> np.ndarray:
        lateral = 1.0 - smoothstep(self.mouth_half, self.mouth_half + LIP_LATERAL, np.abs(self.x))
        return (1.0 - smoothstep(extent[0], extent[1], beyond)) * lateral


# ======================================================================= channel fields
def build_fields(points: np.ndarray, reference: np.ndarray, names) -> np.ndarray:
    """(len(names), 478, 3) fields for the face ``points`` with weights from ``reference``."""
    geo = FaceGeometry(points, reference)
    fields = {}
    jaw = jaw_open(geo)
    fields["jawOpen"] = jaw
    fields["mouthClose"] = mouth_close(geo, jaw)
    fields["mouthFunnel"] = funnel(geo, **FUNNEL)
    fields["mouthPucker"] = pucker(geo, **PUCKER)
    fields["mouthRollLower"] = roll(geo, lower=True)
    fields["mouthRollUpper"] = roll(geo, lower=False)
    fields["browInnerUp"] = brow_inner_up(geo)
    for side, s in SIDES.items():
        for family, (move, radius) in CORNER_FIELD.items():
            corner = geo.corner[s]
            fields[family + side] = ellipse_move(geo, s, (abs(corner[0]), corner[1]), radius, move)
        fields["mouthSmile" + side] += ellipse_move(geo, s, SMILE_CHEEK["centre"], SMILE_CHEEK["radius"],
                                                    (0.0, -SMILE_CHEEK["lift"], -SMILE_CHEEK["forward"]))
        fields["mouthStretch" + side] += lip_thinning(geo, s, STRETCH_THIN) + lip_elongation(geo, s, *STRETCH_LIP)
        fields["mouthUpperUp" + side] = lip_side_move(geo, s, upper=True)
        fields["mouthLowerDown" + side] = lip_side_move(geo, s, upper=False)
        fields["mouthPress" + side] = press(geo, s)
        fields["eyeBlink" + side] = lid_field(geo, s, BLINK_UPPER, -BLINK_LOWER, LID_SKIN_ABOVE)
        fields["eyeWide" + side] = lid_field(geo, s, -WIDE_UPPER, WIDE_LOWER, WIDE_SKIN_ABOVE)
        fields["browDown" + side] = brow_down(geo, s)
        fields["browOuterUp" + side] = brow_outer_up(geo, s)
        fields["cheekSquint" + side] = cheek_squint(geo, s)
    fields["gazeX"], fields["gazeY"] = gaze(geo)
    out = np.stack([fields[name] for name in names])
    gaze_rows = [i for i, n in enumerate(names) if n.startswith("gaze")]
    others = [i for i in range(len(names)) if i not in gaze_rows]
    out[np.ix_(others, list(L.IRIS_POINTS))] = 0.0  # only gaze moves the irises
    assert np.isfinite(out).all()
    return out


def jaw_open(geo: FaceGeometry) -> np.ndarray:
    """Rotation of the mandible about the hinge (+ glide), weighted by the jaw weight."""
    angle = math.radians(JAW_ANGLE_DEG)
    hy, hz = JAW_HINGE_YZ
    ry, rz = geo.fy - hy, geo.fz - hz
    dy = math.cos(angle) * ry - math.sin(angle) * rz - ry
    dz = math.sin(angle) * ry + math.cos(angle) * rz - rz
    rigid = field(JAW_GLIDE[0], dy + JAW_GLIDE[1], dz + JAW_GLIDE[2])
    pull = sum(bump(np.hypot(geo.x - c[0], geo.y - c[1]) / JAW_CORNER_RADIUS) * -np.sign(c[0])
               for c in geo.corner.values())
    return geo.jaw_weight[:, None] * rigid + field(JAW_CORNER_NARROW * pull)


def mouth_close(geo: FaceGeometry, jaw: np.ndarray) -> np.ndarray:
    """Lips together while the jaw stays open: the lower lip takes back most of the jaw's drop."""
    lips = np.asarray(L.LIPS_INNER_LOWER)
    order = np.argsort(geo.ref[lips, 0])
    drop_here = np.interp(geo.x, geo.ref[lips[order], 0], jaw[lips[order], 1])  # (478,) jaw's lip gap at x
    out = -CLOSE_LOWER_SHARE * jaw * geo.lower_lip[:, None]
    out[:, 1] += (1.0 - CLOSE_LOWER_SHARE) * drop_here * geo.upper_lip
    return out


def _rounding(geo: FaceGeometry, narrow: float, forward: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shared part of funnel and pucker: (lip weight, dx narrowing towards the midline, dz forward)."""
    lips = geo.upper_lip + geo.lower_lip
    protrude = -forward * lips * (1.0 - 0.5 * smoothstep(0.0, geo.mouth_half, np.abs(geo.x)))
    return lips, -narrow * geo.fx * lips, protrude


def funnel(geo: FaceGeometry, narrow: float, opening: float, forward: float) -> np.ndarray:
    """mouthFunnel: the lips flare open into a round O over the middle of the mouth, narrowing a little."""
    lips, dx, dz = _rounding(geo, narrow, forward)
    u = np.minimum(np.abs(geo.x) / geo.inner_half, 1.0)
    hole = (1.0 - u * u) ** 2  # broad and round, 0 with zero slope at the inner corners
    dy = (geo.lower_lip - geo.upper_lip) * hole * opening
    return field(dx, dy, dz)


def pucker(geo: FaceGeometry, narrow: float, press: float, pout: float, forward: float,
           corner_forward: float, corner_radius: float) -> np.ndarray:
    """mouthPucker: the closed lips gather (strong narrowing), press lightly together, pout and push forward."""
    lips, dx, dz = _rounding(geo, narrow, forward)
    centre = bump(geo.x / geo.mouth_half)  # 1 at the midline, 0 at the corners
    dy = (geo.upper_lip - geo.lower_lip) * centre * press
    for name, lip, sign in (("upper", geo.upper_lip, -1.0), ("lower", geo.lower_lip, 1.0)):
        inner = geo.ref_curves[f"inner_{name}"].y_at(geo.x)
        outer = geo.ref_curves[f"outer_{name}"].y_at(geo.x)
        # 0 on the inner border, 1 on the vermilion border and beyond: the lip body swells outwards
        depth = np.clip(np.abs(geo.y - inner) / np.maximum(np.abs(outer - inner), 1e-3), 0.0, 1.0)
        dy = dy + sign * pout * depth * lip * (1.0 - smoothstep(0.0, geo.mouth_half, np.abs(geo.x)) ** 2)
    corners = sum(bump(np.hypot(geo.x - c[0], geo.y - c[1]) / corner_radius) for c in geo.corner.values())
    return field(dx, dy, dz - corner_forward * corners)


def ellipse_move(geo: FaceGeometry, s: float, centre, radius, move) -> np.ndarray:
    """``move`` (dx mirrored by side) weighted by a bump over an ellipse at (s * cx, cy)."""
    cx, cy = centre
    u = np.hypot((geo.x - s * cx) / radius[0], (geo.y - cy) / radius[1])
    return bump(u)[:, None] * np.array([s * move[0], move[1], move[2]])


def lip_elongation(geo: FaceGeometry, s: float, lateral: float, lower_down: float) -> np.ndarray:
    """Lips drawn towards corner ``s`` (0 at the far corner, ``lateral`` at this one), lower lip there down."""
    ramp = smoothstep(-geo.mouth_half, geo.mouth_half, s * geo.x)
    lips = geo.upper_lip + geo.lower_lip
    return field(dx=s * lateral * ramp * lips, dy=lower_down * ramp * ramp * geo.lower_lip)


def lip_thinning(geo: FaceGeometry, s: float, amount: float) -> np.ndarray:
    side = smoothstep(-0.1, 0.3, s * geo.x)
    return field(dy=-amount * (geo.fy - geo.mouth_line) * (geo.upper_lip + geo.lower_lip) * side)


def lip_side_move(geo: FaceGeometry, s: float, upper: bool) -> np.ndarray:
    """mouthUpperUp (upper lip on side s up) / mouthLowerDown (lower lip on side s down)."""
    x = LIP_SIDE_FIELD["x"]
    curve = geo.ref_curves["outer_upper" if upper else "outer_lower"]
    centre = (x, float(curve.y_at(s * x)))
    move = (0.0, -LIP_SIDE_FIELD["move"] if upper else LIP_SIDE_FIELD["move"], -0.01)
    region = (1.0 - geo.jaw_weight) if upper else geo.jaw_weight
    return ellipse_move(geo, s, centre, LIP_SIDE_FIELD["radius"], move) * region[:, None]


def roll(geo: FaceGeometry, lower: bool) -> np.ndarray:
    """The vermilion of one lip rolls in: its outer border moves towards the inner border, and back."""
    inner = geo.curves["inner_lower" if lower else "inner_upper"].y_at(geo.x)
    outer = geo.curves["outer_lower" if lower else "outer_upper"].y_at(geo.x)
    thickness = np.abs(outer - inner)
    depth = np.clip((geo.fy - inner) * (1.0 if lower else -1.0), 0.0, thickness)
    mask = geo.lower_lip if lower else geo.upper_lip
    dy = (-1.0 if lower else 1.0) * (ROLL["thin"] * depth + ROLL["inner"]) * mask
    return field(dy=dy, dz=ROLL["back"] * mask)


def press(geo: FaceGeometry, s: float) -> np.ndarray:
    side = smoothstep(-PRESS["side_blend"], PRESS["side_blend"], s * geo.x)  # Left + Right = 1
    lips = geo.upper_lip + geo.lower_lip
    thin = PRESS["thin_upper"] * geo.upper_lip + PRESS["thin_lower"] * geo.lower_lip
    dy = (PRESS["close"] * (geo.upper_lip - geo.lower_lip) - thin * (geo.fy - geo.mouth_line)) * side
    return field(dy=dy, dz=PRESS["back"] * lips * side)


def lid_field(geo: FaceGeometry, s: float, upper_share: float, lower_share: float, skin_above: float) -> np.ndarray:
    """Move eye ``s``'s upper lid by ``upper_share`` and lower lid by ``lower_share`` of its gap (+ = down)."""
    ref_up, ref_low = geo.ref_side("eye_upper", s).y_at(geo.x), geo.ref_side("eye_lower", s).y_at(geo.x)
    upper, lower = geo.side("eye_upper", s), geo.side("eye_lower", s)
    on_side = (geo.x * s > 0).astype(np.float64)
    gap = np.maximum(lower.y_at(geo.x) - upper.y_at(geo.x), 0.0) * on_side  # the face's; 0 beyond the corners
    is_upper = geo.y <= 0.5 * (ref_up + ref_low)
    above = bump(np.maximum(ref_up - geo.y, 0.0) / skin_above) * is_upper
    below = bump(np.maximum(geo.y - ref_low, 0.0) / LID_SKIN_BELOW) * ~is_upper
    dy = gap * (upper_share * above + lower_share * below)
    # a closing lid also follows the eyeball's curvature down to the lower lid's depth
    dz = max(upper_share, 0.0) * (lower.z_at(geo.x) - upper.z_at(geo.x)) * above * on_side
    return field(dy=dy, dz=dz)


def brow_weight(geo: FaceGeometry, reach_up: float) -> np.ndarray:
    """(478,) 1 on the brows, fading up the forehead over ``reach_up`` and down to 0 at the upper lid."""
    left = geo.x >= 0
    brow = np.where(left, _brow_mid(geo, 1.0), _brow_mid(geo, -1.0))
    lid = np.where(left, geo.ref_side("eye_upper", 1.0).y_at(geo.x), geo.ref_side("eye_upper", -1.0).y_at(geo.x))
    above = brow - geo.y
    room = np.maximum(lid - brow, BROW["min_room"])
    return np.where(above >= 0, bump(above / reach_up), bump(-above / room))


def _brow_mid(geo: FaceGeometry, s: float) -> np.ndarray:
    return 0.5 * (geo.ref_side("brow_upper", s).y_at(geo.x) + geo.ref_side("brow_lower", s).y_at(geo.x))


def brow_inner_up(geo: FaceGeometry) -> np.ndarray:
    """The medial part of both brows up (and a little together): the brows tilt, medial ends highest."""
    w = (1.0 - smoothstep(*BROW_SPLIT, np.abs(geo.x))) * brow_weight(geo, BROW["forehead_reach"])
    towards_centre = -np.tanh(geo.x / BROW["inner_in_blend"])  # smooth sign: midline points stay put
    return field(dx=BROW["inner_in"] * towards_centre * w, dy=-BROW["inner_up"] * w)


def brow_down(geo: FaceGeometry, s: float) -> np.ndarray:
    along = smoothstep(-0.1, 0.15, s * geo.x) * (1.0 - smoothstep(0.75, 1.0, s * geo.x))
    along = along * (1.0 - 0.4 * smoothstep(0.4, 0.9, s * geo.x))  # the inner brow pulls down most
    w = along * brow_weight(geo, BROW["down_forehead_reach"])
    return field(dx=-s * BROW["down_in"] * w, dy=BROW["down"] * w)


def brow_outer_up(geo: FaceGeometry, s: float) -> np.ndarray:
    """The lateral part of brow ``s`` up (the complement of browInnerUp along the brow)."""
    along = smoothstep(*BROW_SPLIT, s * geo.x) * (1.0 - smoothstep(*BROW_OUTER_END, s * geo.x))
    return field(dy=-BROW["outer_up"] * along * brow_weight(geo, BROW["forehead_reach"]))


def cheek_squint(geo: FaceGeometry, s: float) -> np.ndarray:
    cheek = ellipse_move(geo, s, CHEEK_SQUINT["centre"], CHEEK_SQUINT["radius"],
                         (0.0, -CHEEK_SQUINT["lift"], -CHEEK_SQUINT["forward"]))
    return cheek + lid_field(geo, s, 0.0, -CHEEK_SQUINT["lid_push"], LID_SKIN_ABOVE)


def gaze(geo: FaceGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Iris translations for gazeX = 1 and gazeY = 1, scaled by each eye's own half-width."""
    gx, gy = np.zeros((NUM_POINTS, 3)), np.zeros((NUM_POINTS, 3))
    eyes = ((L.RIGHT_IRIS, L.RIGHT_EYE_OUTER, L.RIGHT_EYE_INNER), (L.LEFT_IRIS, L.LEFT_EYE_OUTER, L.LEFT_EYE_INNER))
    for iris, outer, inner in eyes:
        half_width = 0.5 * np.linalg.norm(geo.p[outer, :2] - geo.p[inner, :2])
        gx[list(iris), 0] = GAZE_X * half_width
        gy[list(iris), 1] = GAZE_Y * half_width
    return gx, gy
