"""``%mf_show``: addresses (``address``), type-aware views (``views``), bounded MIME bundles
(``bundle`` with ``fallbacks``), artifact loading (``artifacts``) and the magic (``magics``)."""
