"""Motion generation: a diffusion transformer over motion sequences and its sampler."""
