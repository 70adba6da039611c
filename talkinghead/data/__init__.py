"""Training data: synthetic speech with known phoneme timing turned into motion, and real videos.

Synthetic path: :mod:`.text` (sentences) -> :mod:`.voices` (espeak-ng :mod:`.espeak`,
:mod:`.flite`, :mod:`.festival`) -> :mod:`.visemes` (mouth curves with coarticulation) +
:mod:`.prosody` (head, brows, gaze) -> :mod:`.augment` (audio degradations), assembled
per clip by :func:`talkinghead.data.synth.synthesize_utterance`.
"""
