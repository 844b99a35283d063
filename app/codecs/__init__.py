"""Wire formats: JSON bodies of the TF Serving and V2 protocols to and from named numpy arrays. No Flask here."""
