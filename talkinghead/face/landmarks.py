"""Named index groups of MediaPipe's 478-point face mesh (468 mesh points + 10 iris points).

Conventions
-----------
* **Left / Right are the subject's own left / right**, as in MediaPipe's ``FACEMESH_LEFT_EYE``.
  In an unmirrored frontal photo the subject's *left* eye appears on the *image's right*.
* Open chains (lip halves, lids, brows, jaw) are ordered from the **image-left end to the
  image-right end** of a frontal face, i.e. from the subject's right to the subject's left.
  Upper and lower halves of a contour share their two end points (the corners).
* ``FACE_OVAL`` is a closed loop starting at the forehead top (10) and running towards the
  image right first (clockwise on screen); the first point is not repeated at the end.
* Iris groups are ``(centre, +x, -y, -x, +y)`` in image axes (right, up, left, down).

The tuples were derived once from MediaPipe's connection sets
(``mp.solutions.face_mesh_connections.FACEMESH_LIPS``, ``FACEMESH_LEFT_EYE``, ``FACEMESH_RIGHT_EYE``,
``FACEMESH_*_EYEBROW``, ``FACEMESH_FACE_OVAL``, ``FACEMESH_*_IRIS``, ``FACEMESH_NOSE``) by walking each
contour between its corners and splitting upper/lower by the canonical model's vertical axis;
``tests/test_face.py`` re-checks them against those sets.
"""

from __future__ import annotations

NUM_MESH_POINTS = 468  # MediaPipe face mesh vertices
NUM_IRIS_POINTS = 10  # refine_landmarks=True adds 5 per eye
NUM_LANDMARKS = NUM_MESH_POINTS + NUM_IRIS_POINTS  # 478

# --- lips (corner to corner, image-left -> image-right) -------------------------------
MOUTH_CORNER_RIGHT = 61  # subject's right outer lip corner (image left)
MOUTH_CORNER_LEFT = 291  # subject's left outer lip corner (image right)
MOUTH_INNER_CORNER_RIGHT = 78
MOUTH_INNER_CORNER_LEFT = 308
UPPER_LIP_TOP = 0  # outer upper lip, midline
LOWER_LIP_BOTTOM = 17  # outer lower lip, midline
UPPER_LIP_INNER = 13  # inner upper lip, midline
LOWER_LIP_INNER = 14  # inner lower lip, midline

LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
# Closed loops (upper half then lower half back, corners once each).
LIPS_OUTER = LIPS_OUTER_UPPER + LIPS_OUTER_LOWER[-2:0:-1]
LIPS_INNER = LIPS_INNER_UPPER + LIPS_INNER_LOWER[-2:0:-1]

# --- eyes (corner to corner, image-left -> image-right) --------------------------------
RIGHT_EYE_OUTER = 33  # subject's right eye, lateral corner (image far left)
RIGHT_EYE_INNER = 133
LEFT_EYE_INNER = 362
LEFT_EYE_OUTER = 263  # subject's left eye, lateral corner (image far right)

RIGHT_EYE_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_EYE_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
LEFT_EYE_UPPER = (362, 398, 384, 385, 386, 387, 388, 466, 263)
LEFT_EYE_LOWER = (362, 382, 381, 380, 374, 373, 390, 249, 263)
RIGHT_EYE = RIGHT_EYE_UPPER + RIGHT_EYE_LOWER[-2:0:-1]  # closed contour, 16 points
LEFT_EYE = LEFT_EYE_UPPER + LEFT_EYE_LOWER[-2:0:-1]  # closed contour, 16 points

# --- irises: (centre, +x ring, -y ring, -x ring, +y ring) ------------------------------
RIGHT_IRIS = (468, 469, 470, 471, 472)
LEFT_IRIS = (473, 474, 475, 476, 477)
RIGHT_IRIS_CENTER = RIGHT_IRIS[0]
LEFT_IRIS_CENTER = LEFT_IRIS[0]

# --- eyebrows (image-left -> image-right) ----------------------------------------------
RIGHT_EYEBROW_UPPER = (70, 63, 105, 66, 107)
RIGHT_EYEBROW_LOWER = (46, 53, 52, 65, 55)
LEFT_EYEBROW_UPPER = (336, 296, 334, 293, 300)
LEFT_EYEBROW_LOWER = (285, 295, 282, 283, 276)
RIGHT_EYEBROW = RIGHT_EYEBROW_UPPER + RIGHT_EYEBROW_LOWER
LEFT_EYEBROW = LEFT_EYEBROW_UPPER + LEFT_EYEBROW_LOWER

# --- face outline ---------------------------------------------------------------------
FOREHEAD_TOP = 10
CHIN = 152  # menton: lowest point of the face oval
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
# Lower part of the oval from the subject's right ear level (234) through the chin to the left (454).
JAW_LINE = (234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397,
            288, 361, 323, 454)
CHIN_GROUP = (148, 152, 377)

# --- nose -----------------------------------------------------------------------------
NOSE_TIP = 4  # most anterior vertex of the canonical face model
NOSE_BRIDGE = (168, 6, 197, 195, 5, 4)  # from between the eyes down to the tip
NOSE_COLUMELLA = (4, 1, 19, 94, 2)  # tip down to the subnasal point
SUBNASALE = 2
# The nose base: subnasal point, nostril sills (97/326), nostril-wing bottoms (98/327), alar bases
# (64/294, 129/358); all ~0.2-0.4 IOD in front of the eyes, where the upper teeth are.
NOSE_BASE = (2, 97, 326, 98, 327, 64, 294, 129, 358)

# --- handy groups ---------------------------------------------------------------------
EYE_CORNERS = (RIGHT_EYE_OUTER, RIGHT_EYE_INNER, LEFT_EYE_INNER, LEFT_EYE_OUTER)
MOUTH_CORNERS = (MOUTH_CORNER_RIGHT, MOUTH_CORNER_LEFT)
MESH_POINTS = tuple(range(NUM_MESH_POINTS))
IRIS_POINTS = RIGHT_IRIS + LEFT_IRIS

#: Every named group, for tests and plotting.
GROUPS: dict[str, tuple[int, ...]] = {
    "lips_outer_upper": LIPS_OUTER_UPPER, "lips_outer_lower": LIPS_OUTER_LOWER,
    "lips_inner_upper": LIPS_INNER_UPPER, "lips_inner_lower": LIPS_INNER_LOWER,
    "right_eye_upper": RIGHT_EYE_UPPER, "right_eye_lower": RIGHT_EYE_LOWER,
    "left_eye_upper": LEFT_EYE_UPPER, "left_eye_lower": LEFT_EYE_LOWER,
    "right_iris": RIGHT_IRIS, "left_iris": LEFT_IRIS,
    "right_eyebrow_upper": RIGHT_EYEBROW_UPPER, "right_eyebrow_lower": RIGHT_EYEBROW_LOWER,
    "left_eyebrow_upper": LEFT_EYEBROW_UPPER, "left_eyebrow_lower": LEFT_EYEBROW_LOWER,
    "face_oval": FACE_OVAL, "jaw_line": JAW_LINE, "chin": CHIN_GROUP,
    "nose_bridge": NOSE_BRIDGE, "nose_columella": NOSE_COLUMELLA,
    "eye_corners": EYE_CORNERS, "mouth_corners": MOUTH_CORNERS,
}

# --- rigid subset for head pose --------------------------------------------------------
#: MediaPipe's Procrustes landmark basis (ids, weights) from its face-geometry pipeline metadata
#: (geometry_pipeline_metadata_landmarks.pbtxt, Apache-2.0): points that move little with
#: expression, used to fit the head pose. Weights are symmetric between the two halves.
POSE_LANDMARKS = (4, 6, 10, 33, 54, 67, 117, 119, 121, 127, 129, 132, 133, 136, 143, 147, 198, 205,
                  263, 284, 297, 346, 348, 350, 356, 358, 361, 362, 365, 372, 376, 420, 425)
POSE_WEIGHTS = (0.070909939706326, 0.032100144773722, 0.008446550928056, 0.058724168688059,
                0.007667080033571, 0.009078059345484, 0.009791937656701, 0.014565368182957,
                0.018591361120343, 0.005197994410992, 0.120625205338001, 0.005560018587857,
                0.05328618362546, 0.066890455782413, 0.014816547743976, 0.014262833632529,
                0.025462191551924, 0.047252278774977,
                0.058724168688059, 0.007667080033571, 0.009078059345484, 0.009791937656701,
                0.014565368182957, 0.018591361120343, 0.005197994410992, 0.120625205338001,
                0.005560018587857, 0.05328618362546, 0.066890455782413, 0.014816547743976,
                0.014262833632529, 0.025462191551924, 0.047252278774977)
