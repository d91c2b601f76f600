"""Uploader tests: real FTPS, SFTP and Orthanc servers, and stand-ins for XNAT and the TRE."""
