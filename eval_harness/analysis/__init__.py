"""Representation analyses of the paper's section 3.

- `codebooks`: which quantizer code each frame gets, and its co-occurrence with NSynth pitch and
  instrument family (Figs. 1-2); `cooccurrence`: the counts and their NMI, purity, codes used, perplexity.
- `pwcca`: CCA / PWCCA in numpy (Morcos et al. 2018); `layers`: per-frame CNN and transformer
  layer features of 4 s clips; `similarity`: PWCCA of every layer against the CNN output (Fig. 3).
- `plots`: the heatmaps and the layer plot; `section`: `run_analyses`, the benchmark report's analysis
  section (`benchmark --with-analysis`).
"""


class AnalysisError(ValueError):
    """An analysis that cannot run on the given model or data; the message says what was expected."""
