"""Evaluation: lip-sync, stability and identity metrics, and the eval reports.

* :mod:`.metrics` — metric functions on curves and face landmarks (Pearson r, best lag, mouth
  opening, M-LMD, jitter, PSNR, audio envelope, ...), pure numpy.
* :mod:`.videos` — :func:`~talkinghead.eval.videos.evaluate_videos`: a generator on real talking
  videos (first frame + own audio in, generated frames compared with the real ones).
* :mod:`.synthetic` — :func:`~talkinghead.eval.synthetic.evaluate_synthetic`: generated motion vs
  ground-truth channels of held-out synthetic clips (per-channel r, lip closure on p/b/m).
* :mod:`.report` — report.json / report.md / plots, shared by both.
"""
