"""Built-in plugin: "File > Export report…" writes the PDF explanation report of what is on screen."""
