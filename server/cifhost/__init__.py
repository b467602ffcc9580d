"""The local CIF host: the page that plays the Dynamics 365 agent workspace around the
widget (`host.py`, its templates and static files, `msdyn_ciLibrary.js`) and the
Dataverse stand-in it frames the solution's landing page from (`dataverse.py`)."""
