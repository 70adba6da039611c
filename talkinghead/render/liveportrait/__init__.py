"""LivePortrait-architecture renderer networks, written here, loading the official MIT weights.

Modules: :mod:`.appearance` (F), :mod:`.motion_extractor` (M), :mod:`.warping` (W, with
dense motion and occlusion), :mod:`.spade` (G), :mod:`.retargeting` (stitching / eye / lip
MLPs), :mod:`.keypoints` (pose bins, rotation, keypoint transform), :mod:`.grid_sample3d`
(3-D sampling with an ONNX-friendly formulation) and :mod:`.loader`; driving them from our
motion space: :mod:`.calibration` (channels -> expression deltas) and :mod:`.driving`.
"""

from .appearance import APPEARANCE_SIZES, AppearanceFeatureExtractor, AppearanceFeatureExtractorConfig
from .calibration import (CALIBRATED_CHANNELS, CalibrationConfig, ExpressionCalibration, calibrate,
                          fit_channel_deltas)
from .driving import SourceKeypoints, driving_keypoints, eye_open_ratios, lip_open_ratio
from .grid_sample3d import grid_sample_3d, grid_sample_3d_gather
from .keypoints import bins_to_degrees, keypoint_info, rotation_matrix, transform_keypoints
from .loader import (
    CHECKPOINT_FILES,
    HUB_ID,
    WEIGHTS_CONFIG_FILE,
    LivePortraitConfig,
    LivePortraitModels,
    default_weights_dir,
    expected_state_dict_shapes,
    liveportrait_config,
    load_liveportrait,
    read_weights_config,
    resolve_weights_dir,
    save_liveportrait,
    state_dict_mismatches,
    state_dict_shapes,
)
from .motion_extractor import MOTION_EXTRACTOR_SIZES, MotionExtractor, MotionExtractorConfig
from .retargeting import RetargetingMLP, RetargetingMLPConfig, StitchingRetargeting, StitchingRetargetingConfig
from .spade import SPADE_SIZES, SPADEGenerator, SPADEGeneratorConfig
from .warping import WARPING_SIZES, DenseMotionConfig, WarpingModule, WarpingModuleConfig

__all__ = [
    "APPEARANCE_SIZES", "AppearanceFeatureExtractor", "AppearanceFeatureExtractorConfig",
    "CALIBRATED_CHANNELS", "CalibrationConfig", "ExpressionCalibration", "calibrate", "fit_channel_deltas",
    "SourceKeypoints", "driving_keypoints", "eye_open_ratios", "lip_open_ratio",
    "grid_sample_3d", "grid_sample_3d_gather",
    "bins_to_degrees", "keypoint_info", "rotation_matrix", "transform_keypoints",
    "CHECKPOINT_FILES", "HUB_ID", "WEIGHTS_CONFIG_FILE", "LivePortraitConfig", "LivePortraitModels",
    "default_weights_dir", "expected_state_dict_shapes", "liveportrait_config", "load_liveportrait",
    "read_weights_config", "resolve_weights_dir", "save_liveportrait", "state_dict_mismatches", "state_dict_shapes",
    "MOTION_EXTRACTOR_SIZES", "MotionExtractor", "MotionExtractorConfig",
    "RetargetingMLP", "RetargetingMLPConfig", "StitchingRetargeting", "StitchingRetargetingConfig",
    "SPADE_SIZES", "SPADEGenerator", "SPADEGeneratorConfig",
    "WARPING_SIZES", "DenseMotionConfig", "WarpingModule", "WarpingModuleConfig",
]
