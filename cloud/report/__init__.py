"""The fleet's periodic report, built from the detections table: what each camera detected per
UTC day and label, its analysis sessions and video (or images) analysed, the estimated cost, the
busiest hours, and a chart.

`window` (the period asked for), `models`, `reading` (the only I/O on the table), `aggregate`,
`cost`, `chart` (a PNG, Pillow), `render` (markdown) and `store` (the chart in the results bucket).
"""
