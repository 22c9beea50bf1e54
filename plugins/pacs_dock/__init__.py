"""The PACS dock, a built-in plugin: find studies on a PACS, retrieve them, send files (docs/pacs.md)."""
