"""Getting a finished video to where it is wanted: fitting it under an upload limit."""
