"""The mouth opening: what a warp cannot invent when the lips part (torch, ONNX-exportable).

Inside the *target* inner-lip polygon (soft inner edge) the layer shows, back to front:

* a dark cavity, lighter (mucosa) near the lips and darkest deep inside;
* a tongue, an ellipse that moves with the jaw;
* the lower teeth, attached to the jaw: the upper jaw's motion plus the jaw's own motion,
  estimated from the lower lip and chin;
* the upper teeth, attached to the upper jaw (the skull as seen at the nose base, which lies at
  the teeth's depth), so they stay put while the jaw drops and show when the upper lip rises;
* where the *source* mouth is open, its real interior instead of the drawn one: the upper half
  follows the skull, the lower half the jaw (so a smiling portrait keeps its own teeth);
* a soft shadow the lips cast just inside their edge.

Every target pixel is mapped back into the *source* mouth frame (upright, source scale) by the
inverse skull (or jaw) motion, where the teeth are an analytic pattern: incisal edges curving up
towards the corners, gaps between teeth, darkening towards the corners of the mouth. Lengths are
in inter-ocular distances (IOD). Colours are scaled by the portrait's skin brightness and
desaturated for grayscale portraits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..face import landmarks as L
from .geometry import apply_affines, polygon_sdf_grid, sample_at
from .skull import UPPER_JAW_POINTS, SkullMotion

# Tooth boundaries along the dental arch, as fractions of its visible half-width, centre outwards:
# between the central incisors, then after the central incisor, lateral incisor and canine
# (foreshortened towards the corners; the premolars fade into the corner shadow).
UPPER_TOOTH_EDGES = (0.0, 0.36, 0.6, 0.78)
LOWER_TOOTH_EDGES = (0.0, 0.24, 0.46, 0.64)
PROFILE_EXTENT = 1.25  # teeth brightness lookup covers u in [-1.25, 1.25] arch half-widths
PROFILE_SAMPLES = 501
LUMA = (0.299, 0.587, 0.114)  # Rec. 601
REAL_SEAM_PX = 3.0  # width of the fades between the source's real upper / lower interior and the drawn one
DARK_QUANTILE = 0.15  # an open source's cavity hue: mean of its interior pixels below this luma quantile
MIN_OPEN_PIXELS = 40  # fewer interior pixels than this: the source mouth counts as closed
SKIN_SAMPLE_POINTS = (50, 280, 101, 330, 151, 9, 108, 337)  # cheeks, forehead, glabella (mesh indices)


@dataclass(frozen=True)
class MouthStyle:
    """Look of the drawn mouth interior. Lengths in IOD; colours 0..1 RGB for a face of
    ``reference_skin_luma``, scaled by the portrait's own skin brightness."""

    edge_soft: float = 0.012  # soft inner edge of the opening
    lip_shadow: float = 0.45  # darkening right at the lip edge (0 none, 1 black)
    lip_shadow_width: float = 0.03
    cavity_rgb: tuple[float, float, float] = (0.30, 0.11, 0.11)
    cavity_depth: float = 0.10  # distance inside the opening where the cavity is darkest
    cavity_dark: float = 0.65  # how much darker the deepest cavity is than near the lips
    teeth_rgb: tuple[float, float, float] = (0.90, 0.86, 0.78)
    gum_rgb: tuple[float, float, float] = (0.72, 0.38, 0.38)
    tongue_rgb: tuple[float, float, float] = (0.50, 0.22, 0.23)
    upper_edge: float = 0.05  # upper incisal edge below the source upper inner lip midpoint
    lower_edge: float = 0.04  # lower incisal edge above the source lower inner lip midpoint
    upper_crown: float = 0.17  # visible crown heights
    lower_crown: float = 0.14
    upper_arch: float = 0.85  # visible dental arch half-width in source inner-mouth half-widths
    lower_arch: float = 0.75
    upper_curve: float = 0.035  # incisal edge rise at the arch ends
    lower_curve: float = 0.02
    tooth_gap: float = 0.015  # width of the dark line between teeth (fraction of arch half-width)
    tooth_gap_dark: float = 0.12
    corner_dark: float = 0.85  # teeth darkening towards the mouth corners (buccal corridor)
    edge_blur: float = 0.008  # softness of the teeth outlines
    # Lower incisors move by lip_follow * (lower-lip midpoint motion) + chin_follow * (chin motion),
    # both relative to the skull: the lip rides on the teeth, the chin swings further back.
    lip_follow: float = 0.5
    chin_follow: float = 0.65
    tongue_centre: float = 0.04  # below the lower incisal edge (its top shows behind the lower teeth)
    tongue_radii: tuple[float, float] = (0.75, 0.12)  # (arch half-widths, IOD)
    reference_skin_luma: float = 0.62


def skin_brightness(crop: np.ndarray, landmarks: np.ndarray) -> float:
    """Median luma (0..1) of small patches on the cheeks and forehead of an RGB uint8 crop."""
    size = crop.shape[0]
    pts = np.clip(np.round(np.asarray(landmarks)[list(SKIN_SAMPLE_POINTS), :2]).astype(int), 3, size - 4)
    patches = [crop[y - 3:y + 4, x - 3:x + 4].reshape(-1, 3) for x, y in pts]
    return float(np.median(np.concatenate(patches).astype(np.float64) @ np.asarray(LUMA)) / 255.0)


def is_grayscale(crop: np.ndarray, tolerance: float = 4.0) -> bool:
    """True when the RGB channels of a uint8 crop agree to within ``tolerance`` levels on average."""
    c = crop.astype(np.float32)
    return float(np.abs(c - c.mean(axis=2, keepdims=True)).mean()) < tolerance


def observed_cavity(crop: np.ndarray, opening: np.ndarray) -> np.ndarray | None:
    """Mean RGB (0..1) of the darkest interior pixels of an open source mouth, or None when closed.
    ``opening``: (S, S) bool mask of the source mouth opening."""
    pixels = crop[opening].astype(np.float64) / 255.0  # (P, 3)
    if len(pixels) < MIN_OPEN_PIXELS:
        return None
    luma = pixels @ np.asarray(LUMA)
    return pixels[luma <= np.quantile(luma, DARK_QUANTILE)].mean(axis=0)


class MouthInterior(nn.Module):
    """Per-avatar mouth layer. ``forward(target, skull, skull_inv, pixels, texture)``: target
    landmarks (B, 478, 2), (B, 2, 3) skull similarities and inverses (the layers' shared signature;
    the mouth uses its own upper-jaw motion instead), window pixels (B, h, w, 2)
    and the source texture (1, 4, S, S) = RGB in 0..1 + the source opening mask ->
    ``(rgb (B, 3, h, w), alpha (B, 1, h, w))``. Built from the source crop, landmarks and its
    (S, S) bool opening mask."""

    def __init__(self, source_landmarks: np.ndarray, crop: np.ndarray, opening: np.ndarray, iod: float,
                 style: MouthStyle | None = None):
        super().__init__()
        self.style = style = style or MouthStyle()
        src = np.asarray(source_landmarks, dtype=np.float64)[:, :2]
        corner_r, corner_l = src[L.MOUTH_INNER_CORNER_RIGHT], src[L.MOUTH_INNER_CORNER_LEFT]
        axis_u = (corner_l - corner_r) / max(np.linalg.norm(corner_l - corner_r), 1e-6)
        axis_v = np.array([-axis_u[1], axis_u[0]])  # image "down" for an upright mouth
        self.iod = float(iod)
        self.half_width = max(0.5 * float(np.linalg.norm(corner_l - corner_r)), 0.15 * iod)
        light = np.clip(skin_brightness(crop, src) / style.reference_skin_luma, 0.35, 1.25)
        colours = np.array([style.cavity_rgb, style.teeth_rgb, style.gum_rgb, style.tongue_rgb]) * light
        observed = observed_cavity(crop, opening)
        if observed is not None:  # the source's own cavity hue, never lighter than the drawn default
            luma = float(observed @ np.asarray(LUMA))
            limit = float(colours[0] @ np.asarray(LUMA))
            colours[0] = observed * min(1.0, limit / max(luma, 1e-6))
        if is_grayscale(crop):
            colours = np.repeat(colours @ np.asarray(LUMA)[:, None], 3, axis=1)
        f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        jaw_points = (L.LOWER_LIP_INNER, L.CHIN)
        self.register_buffer("jaw_index", torch.as_tensor(jaw_points, dtype=torch.int64))
        self.register_buffer("jaw_source", f32(src[list(jaw_points)]).view(1, 2, 2))
        self.register_buffer("axis_u", f32(axis_u))
        self.register_buffer("axis_v", f32(axis_v))
        self.register_buffer("origin", f32(0.5 * (corner_r + corner_l)))
        self.register_buffer("middle", f32(0.5 * (src[L.UPPER_LIP_INNER] + src[L.LOWER_LIP_INNER])))
        self.register_buffer("upper_edge_point", f32(src[L.UPPER_LIP_INNER] + style.upper_edge * iod * axis_v))
        self.register_buffer("lower_edge_point", f32(src[L.LOWER_LIP_INNER] - style.lower_edge * iod * axis_v))
        self.register_buffer("colours", f32(colours).view(4, 3, 1, 1))  # cavity, teeth, gum, tongue
        self.register_buffer("upper_profile", self._teeth_profile(UPPER_TOOTH_EDGES))
        self.register_buffer("lower_profile", self._teeth_profile(LOWER_TOOTH_EDGES))
        self.register_buffer("inner_lip", torch.as_tensor(L.LIPS_INNER, dtype=torch.int64))
        self.upper_jaw = SkullMotion(src, UPPER_JAW_POINTS)

    def _frame(self, q: torch.Tensor, edge_point: torch.Tensor, arch: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Source mouth-frame coordinates of source points ``q`` (B, h, w, 2): ``u`` along the
        arch (1 at its visible end) and ``v`` in IOD below ``edge_point``."""
        u = ((q - self.origin) * self.axis_u).sum(-1) / (arch * self.half_width)
        v = ((q - edge_point) * self.axis_v).sum(-1) / self.iod
        return u, v

    def _teeth_profile(self, gaps: tuple[float, ...]) -> torch.Tensor:
        """Brightness across the arch as a lookup row (1, 1, 1, PROFILE_SAMPLES) over u in
        [-PROFILE_EXTENT, PROFILE_EXTENT]: gaps between teeth, darker towards the corners, zero
        beyond the visible arch."""
        s = self.style
        u = np.abs(np.linspace(-PROFILE_EXTENT, PROFILE_EXTENT, PROFILE_SAMPLES))
        gap = np.exp(-(((u[:, None] - np.asarray(gaps)[None]) / s.tooth_gap) ** 2)).sum(axis=1)
        corner = np.clip((u - 0.35) / 0.65, 0.0, 1.0)
        arch = np.clip((1.0 - u) / 0.08, 0.0, 1.0)
        shade = (1.0 - s.tooth_gap_dark * np.minimum(gap, 1.0)) * (1.0 - s.corner_dark * corner ** 2) * arch
        return torch.as_tensor(shade, dtype=torch.float32).view(1, 1, 1, -1)

    @staticmethod
    def _lookup(profile: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Sample a (1, 1, 1, L) profile at u (B, h, w) -> (B, 1, h, w)."""
        batch, h, w = u.shape
        x = (u / PROFILE_EXTENT).reshape(1, batch * h, w, 1)
        grid = torch.cat([x, torch.zeros_like(x)], dim=-1)
        out = F.grid_sample(profile, grid, mode="bilinear", padding_mode="border", align_corners=True)
        return out.reshape(batch, 1, h, w)

    def _drawn(self, sdf: torch.Tensor, q_up: torch.Tensor, q_lo: torch.Tensor) -> torch.Tensor:
        """The drawn interior (B, 3, h, w) from the signed distance (IOD) and the source points of
        each pixel under the skull (``q_up``) and jaw (``q_lo``) motions."""
        s = self.style
        u_up, v_up = self._frame(q_up, self.upper_edge_point, s.upper_arch)
        u_lo, v_lo = self._frame(q_lo, self.lower_edge_point, s.lower_arch)
        v_up = v_up + s.upper_curve * u_up * u_up  # incisal edges rise towards the arch ends
        v_lo = v_lo + s.lower_curve * u_lo * u_lo
        blur = s.edge_blur
        upper = torch.clamp(0.5 - v_up / blur, 0.0, 1.0).unsqueeze(1)  # (B, 1, h, w)
        lower = torch.clamp(0.5 + v_lo / blur, 0.0, 1.0).unsqueeze(1)
        upper_gum = torch.clamp(0.5 - (v_up + s.upper_crown) / blur, 0.0, 1.0).unsqueeze(1)
        lower_gum = torch.clamp(0.5 + (v_lo - s.lower_crown) / blur, 0.0, 1.0).unsqueeze(1)
        ry = s.tongue_radii[1]
        tongue = torch.clamp(1.5 * (1.0 - (u_lo / s.tongue_radii[0]) ** 2 - ((v_lo - s.tongue_centre) / ry) ** 2),
                             0.0, 1.0).unsqueeze(1)
        tongue_shade = 0.55 + 0.45 * torch.clamp((v_lo - s.tongue_centre + ry) / (0.75 * ry), 0.0, 1.0)

        cavity_c, teeth_c, gum_c, tongue_c = self.colours.unbind(0)  # (3, 1, 1) each
        depth = torch.clamp(-sdf / s.cavity_depth, 0.0, 1.0).unsqueeze(1)  # (B, 1, h, w)
        rgb = cavity_c * (1.0 - s.cavity_dark * depth)
        rgb = rgb + tongue * (tongue_c * tongue_shade.unsqueeze(1) - rgb)
        lower_shade = self._lookup(self.lower_profile, u_lo)  # 0 beyond the arch
        lower_c = (teeth_c + lower_gum * (gum_c - teeth_c)) * lower_shade
        rgb = rgb + lower * torch.clamp(4.0 * lower_shade, max=1.0) * (lower_c - rgb)
        upper_shade = self._lookup(self.upper_profile, u_up)
        upper_c = (teeth_c + upper_gum * (gum_c - teeth_c)) * upper_shade
        return rgb + upper * torch.clamp(4.0 * upper_shade, max=1.0) * (upper_c - rgb)

    def forward(self, target: torch.Tensor, skull: torch.Tensor, skull_inv: torch.Tensor,
                pixels: torch.Tensor, texture: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.style
        batch, h, w, _ = pixels.shape
        # The upper teeth ride on the nose base, not on the eye-level skull points (see skull.py).
        upper, upper_inv = self.upper_jaw(target)  # (B, 2, 3) each
        polygon = target[:, self.inner_lip, :2]  # (B, 20, 2)
        sdf = polygon_sdf_grid(pixels, polygon) / self.iod  # (B, h, w)
        alpha = torch.clamp(-sdf / s.edge_soft, 0.0, 1.0).unsqueeze(1)  # (B, 1, h, w)

        rest = apply_affines(upper, self.jaw_source.expand(batch, 2, 2))  # (B, 2, 2) lip, chin at rest
        moved = target[:, self.jaw_index, :2] - rest  # (B, 2, 2)
        jaw_shift = (s.lip_follow * moved[:, :1] + s.chin_follow * moved[:, 1:])  # (B, 1, 2)
        q_up = apply_affines(upper_inv, pixels)  # (B, h, w, 2) source px
        q_lo = apply_affines(upper_inv, pixels - jaw_shift.unsqueeze(1))
        rgb = self._drawn(sdf, q_up, q_lo)

        # The source's own interior where it has one: the pixels above the source's lip middle
        # (through the skull motion) take the upper half, the rest the lower half through the jaw.
        real_up, real_lo = sample_at(texture, q_up), sample_at(texture, q_lo)  # (B, 4, h, w)
        side_up = ((q_up - self.middle) * self.axis_v).sum(-1).unsqueeze(1)  # px, < 0 above the middle
        side_lo = ((q_lo - self.middle) * self.axis_v).sum(-1).unsqueeze(1)
        # Soft seams; the lower half reaches REAL_SEAM_PX past the upper zone's ramp, so the two
        # weights add up to the opening mask wherever skull and jaw agree (the source renders back).
        ramp = REAL_SEAM_PX
        upper_zone = torch.clamp(0.5 - side_up / ramp, 0.0, 1.0)  # (B, 1, h, w)
        w_up = upper_zone * real_up[:, 3:4]
        lower_valid = torch.clamp((side_lo + 1.5 * ramp) / ramp, 0.0, 1.0)
        w_lo = (1.0 - upper_zone) * real_lo[:, 3:4] * lower_valid
        rgb = rgb + w_up * (real_up[:, :3] - rgb) + w_lo * (real_lo[:, :3] - rgb)
        drawn_share = 1.0 - w_up - w_lo
        shadow = 1.0 - s.lip_shadow * drawn_share * torch.exp(sdf / s.lip_shadow_width).unsqueeze(1)
        return (rgb * shadow).clamp(0.0, 1.0), alpha
