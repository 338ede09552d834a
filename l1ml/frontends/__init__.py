"""Second ML front-ends that live in environments of their own (issue 28): the main process starts
their worker as a subprocess and talks through files, and never imports their libraries."""
