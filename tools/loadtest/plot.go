package loadtest

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
)

// Chart is a line chart that WritePNG draws with the standard library
// only: axes with ticks and grid lines, one polyline with markers per
// series, a legend and a title, in a small built-in bitmap font.
type Chart struct {
	Title  string
	XLabel string
	YLabel string
	// LogX and LogY draw the axis on a base-10 logarithmic scale; every
	// value on such an axis must be positive.
	LogX, LogY bool
	Series     []Series
	// Width and Height are the image size. Default 900 x 540.
	Width, Height int
}

// Series is one line of a chart.
type Series struct {
	Name   string
	Points []Point
}

// Point is one (x, y) value.
type Point struct{ X, Y float64 }

// seriesColor colours series i.
func seriesColor(i int) color.RGBA {
	palette := [...]color.RGBA{
		{0x1f, 0x77, 0xb4, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x2c, 0xa0, 0x2c, 0xff},
		{0xff, 0x7f, 0x0e, 0xff}, {0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff},
	}
	return palette[i%len(palette)]
}

const (
	glyphW, glyphH, fontScale = 5, 7, 2
	charW                     = (glyphW + 1) * fontScale
	marginLeft, marginRight   = 100, 30
	marginTop, marginBottom   = 60, 70
)

// WritePNG draws c and encodes it as PNG.
func (c Chart) WritePNG(w io.Writer) error {
	if c.Width <= 0 {
		c.Width = 900
	}
	if c.Height <= 0 {
		c.Height = 540
	}
	xs, ys := c.axis(func(p Point) float64 { return p.X }, c.LogX), c.axis(func(p Point) float64 { return p.Y }, c.LogY)
	if xs.err != nil {
		return fmt.Errorf("plot %q: x axis: %w", c.Title, xs.err)
	}
	if ys.err != nil {
		return fmt.Errorf("plot %q: y axis: %w", c.Title, ys.err)
	}
	img := image.NewRGBA(image.Rect(0, 0, c.Width, c.Height))
	fill(img, img.Bounds(), color.RGBA{0xff, 0xff, 0xff, 0xff})
	left, right := marginLeft, c.Width-marginRight
	top, bottom := marginTop, c.Height-marginBottom
	px := func(x float64) int { return left + int(math.Round(xs.frac(x)*float64(right-left))) }
	py := func(y float64) int { return bottom - int(math.Round(ys.frac(y)*float64(bottom-top))) }

	grid := color.RGBA{0xe4, 0xe4, 0xe4, 0xff}
	ink := color.RGBA{0x33, 0x33, 0x33, 0xff}
	for _, t := range xs.ticks {
		x := px(t)
		line(img, x, top, x, bottom, grid, 1)
		label := formatTick(t)
		text(img, x-len(label)*charW/2, bottom+10, label, ink)
	}
	for _, t := range ys.ticks {
		y := py(t)
		line(img, left, y, right, y, grid, 1)
		label := formatTick(t)
		text(img, left-10-len(label)*charW, y-glyphH*fontScale/2, label, ink)
	}
	line(img, left, bottom, right, bottom, ink, 1)
	line(img, left, top, left, bottom, ink, 1)
	text(img, (c.Width-len(c.Title)*charW)/2, 18, c.Title, ink)
	text(img, (left+right-len(c.XLabel)*charW)/2, bottom+40, c.XLabel, ink)
	text(img, 10, top-24, c.YLabel, ink)

	for i, s := range c.Series {
		col := seriesColor(i)
		for j, p := range s.Points {
			x, y := px(p.X), py(p.Y)
			fill(img, image.Rect(x-3, y-3, x+4, y+4), col)
			if j > 0 {
				q := s.Points[j-1]
				line(img, px(q.X), py(q.Y), x, y, col, 2)
			}
		}
		ly := top + 10 + i*22
		fill(img, image.Rect(left+14, ly+2, left+34, ly+10), col)
		text(img, left+42, ly, s.Name, ink)
	}
	return png.Encode(w, img)
}

// scale maps values of one axis to [0, 1].
type scale struct {
	lo, hi float64 // in axis units (log10 of values for a log axis)
	log    bool
	ticks  []float64
	err    error
}

func (s scale) frac(v float64) float64 {
	if s.log {
		v = math.Log10(v)
	}
	if s.hi == s.lo {
		return 0.5
	}
	return (v - s.lo) / (s.hi - s.lo)
}

// axis computes the range and ticks of the values get extracts.
func (c Chart) axis(get func(Point) float64, log bool) scale {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			v := get(p)
			if log {
				if v <= 0 {
					return scale{err: fmt.Errorf("value %v on a logarithmic axis", v)}
				}
				v = math.Log10(v)
			}
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 0) {
		return scale{err: fmt.Errorf("no points")}
	}
	sc := scale{log: log}
	if log {
		sc.lo, sc.hi = math.Floor(lo), math.Ceil(hi)
		if sc.hi == sc.lo {
			sc.hi++
		}
		for e := sc.lo; e <= sc.hi; e++ {
			sc.ticks = append(sc.ticks, math.Pow(10, e))
		}
		return sc
	}
	if lo > 0 {
		lo = 0
	}
	if hi == lo {
		hi = lo + 1
	}
	step := niceStep((hi - lo) / 6)
	sc.lo, sc.hi = math.Floor(lo/step)*step, math.Ceil(hi/step)*step
	for v := sc.lo; v <= sc.hi+step/2; v += step {
		sc.ticks = append(sc.ticks, v)
	}
	return sc
}

// niceStep rounds raw up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// formatTick prints a tick value compactly (1k for 1000).
func formatTick(v float64) string {
	switch a := math.Abs(v); {
	case a >= 1e6 && math.Mod(v, 1e6) == 0:
		return fmt.Sprintf("%.0fM", v/1e6)
	case a >= 1e3 && math.Mod(v, 1e3) == 0:
		return fmt.Sprintf("%.0fk", v/1e3)
	case a >= 1 || v == 0:
		return fmt.Sprintf("%.0f", v)
	}
	return strings.TrimRight(fmt.Sprintf("%.3f", v), "0")
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// line draws a line of the given width with Bresenham's algorithm.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, width int) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		fill(img, image.Rect(x0, y0, x0+width, y0+width), c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

// text draws s with its top-left corner at (x, y). Lower-case letters are
// drawn as capitals; characters without a glyph as blanks.
func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range strings.ToUpper(s) {
		g := glyph(r)
		for row := range glyphH {
			for col := range glyphW {
				if g[row]&(1<<(glyphW-1-col)) != 0 {
					fill(img, image.Rect(x+col*fontScale, y+row*fontScale, x+(col+1)*fontScale, y+(row+1)*fontScale), c)
				}
			}
		}
		x += charW
	}
}

// glyph returns the 5x7 bitmap of r: one byte per row, the low five bits
// left to right; a blank for characters it does not know.
func glyph(r rune) [glyphH]uint8 {
	switch r {
	case '0':
		return [glyphH]uint8{0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110}
	case '1':
		return [glyphH]uint8{0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110}
	case '2':
		return [glyphH]uint8{0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111}
	case '3':
		return [glyphH]uint8{0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110}
	case '4':
		return [glyphH]uint8{0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010}
	case '5':
		return [glyphH]uint8{0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110}
	case '6':
		return [glyphH]uint8{0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110}
	case '7':
		return [glyphH]uint8{0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000}
	case '8':
		return [glyphH]uint8{0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110}
	case '9':
		return [glyphH]uint8{0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100}
	case 'A':
		return [glyphH]uint8{0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001}
	case 'B':
		return [glyphH]uint8{0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110}
	case 'C':
		return [glyphH]uint8{0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110}
	case 'D':
		return [glyphH]uint8{0b11100, 0b10010, 0b10001, 0b10001, 0b10001, 0b10010, 0b11100}
	case 'E':
		return [glyphH]uint8{0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111}
	case 'F':
		return [glyphH]uint8{0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000}
	case 'G':
		return [glyphH]uint8{0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111}
	case 'H':
		return [glyphH]uint8{0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001}
	case 'I':
		return [glyphH]uint8{0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110}
	case 'J':
		return [glyphH]uint8{0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100}
	case 'K':
		return [glyphH]uint8{0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001}
	case 'L':
		return [glyphH]uint8{0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111}
	case 'M':
		return [glyphH]uint8{0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001}
	case 'N':
		return [glyphH]uint8{0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001}
	case 'O':
		return [glyphH]uint8{0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110}
	case 'P':
		return [glyphH]uint8{0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000}
	case 'Q':
		return [glyphH]uint8{0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101}
	case 'R':
		return [glyphH]uint8{0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001}
	case 'S':
		return [glyphH]uint8{0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110}
	case 'T':
		return [glyphH]uint8{0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100}
	case 'U':
		return [glyphH]uint8{0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110}
	case 'V':
		return [glyphH]uint8{0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100}
	case 'W':
		return [glyphH]uint8{0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010}
	case 'X':
		return [glyphH]uint8{0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001}
	case 'Y':
		return [glyphH]uint8{0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100}
	case 'Z':
		return [glyphH]uint8{0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111}
	case '.':
		return [glyphH]uint8{0, 0, 0, 0, 0, 0b01100, 0b01100}
	case ',':
		return [glyphH]uint8{0, 0, 0, 0, 0b01100, 0b00100, 0b01000}
	case ':':
		return [glyphH]uint8{0, 0b01100, 0b01100, 0, 0b01100, 0b01100, 0}
	case '/':
		return [glyphH]uint8{0, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0}
	case '(':
		return [glyphH]uint8{0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0b00100, 0b00010}
	case ')':
		return [glyphH]uint8{0b01000, 0b00100, 0b00010, 0b00010, 0b00010, 0b00100, 0b01000}
	case '%':
		return [glyphH]uint8{0b11000, 0b11001, 0b00010, 0b00100, 0b01000, 0b10011, 0b00011}
	case '-':
		return [glyphH]uint8{0, 0, 0, 0b11111, 0, 0, 0}
	case '=':
		return [glyphH]uint8{0, 0, 0b11111, 0, 0b11111, 0, 0}
	case '+':
		return [glyphH]uint8{0, 0b00100, 0b00100, 0b11111, 0b00100, 0b00100, 0}
	case '_':
		return [glyphH]uint8{0, 0, 0, 0, 0, 0, 0b11111}
	case '<':
		return [glyphH]uint8{0b00010, 0b00100, 0b01000, 0b10000, 0b01000, 0b00100, 0b00010}
	case '>':
		return [glyphH]uint8{0b01000, 0b00100, 0b00010, 0b00001, 0b00010, 0b00100, 0b01000}
	}
	return [glyphH]uint8{}
}
