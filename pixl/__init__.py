"""pixl: pull cohorts of DICOM studies from clinical archives, de-identify, deliver."""

__version__ = "0.1.0"
