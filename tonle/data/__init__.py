"""Data files shipped with Tonle (Unicode confusables table); see PROVENANCE.md."""
