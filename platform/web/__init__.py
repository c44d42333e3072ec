"""Page helpers every app may use: charts, images, Markdown, JSON bodies.

No app: nothing here has models or imports an app, so the lowest layer can
draw a chart or read a request body without reaching up.
"""
