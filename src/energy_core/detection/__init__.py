"""Detection: the detector protocol, the detectors and their registry, the scoring context,
and measuring detectors on labelled data (evaluation, fire drill)."""
