package mask

// scanView finds spans in text as the engine does: in its decoded view.
func scanView(sc *scanner, text []byte) ([]Span, []byte) {
	var v view
	v.build(text, viewState{}, true)
	spans, _ := sc.scan(v.d, 0, true, nil)
	return spans, v.d
}
