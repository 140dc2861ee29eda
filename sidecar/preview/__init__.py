"""See what a rule edit does before it ships: replay queries under two rule sets (``replay``),
compare one query's pages (``compare``) and render either as HTML (``render``, shared by the
/inspect page and `sidecar rules diff --html`)."""
