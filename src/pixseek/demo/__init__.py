"""The sample sets (a real photo gallery, a face set, a text set, the labelled dev set) and the demo
that indexes and searches them: `python -m pixseek.demo`."""
