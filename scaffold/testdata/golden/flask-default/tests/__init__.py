"""Tests of the app; run them with `python3 -m unittest` from the project folder."""
