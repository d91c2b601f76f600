"""DICOM networking: the query/retrieve SCU, the raw cache and a simulated archive.

Names follow the DICOM standard: PS3.4 (service classes: Storage, Query/Retrieve) and PS3.7
(DIMSE messages and statuses).
"""
