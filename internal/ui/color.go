package ui

import "github.com/fatih/color"

// Palette colors text for one stream; with color off every method returns
// its input unchanged.
type Palette struct {
	enabled bool
}

// NewPalette returns a palette that colors only when enabled is true.
func NewPalette(enabled bool) *Palette { return &Palette{enabled: enabled} }

// Enabled reports whether the palette emits color codes.
func (p *Palette) Enabled() bool { return p.enabled }

func (p *Palette) paint(s string, attrs ...color.Attribute) string {
	if !p.enabled {
		return s
	}
	c := color.New(attrs...)
	c.EnableColor()
	return c.Sprint(s)
}

// Red is for errors and failures.
func (p *Palette) Red(s string) string { return p.paint(s, color.FgRed) }

// Green is for success.
func (p *Palette) Green(s string) string { return p.paint(s, color.FgGreen) }

// Yellow is for warnings.
func (p *Palette) Yellow(s string) string { return p.paint(s, color.FgYellow) }

// Cyan is for names, paths and commands.
func (p *Palette) Cyan(s string) string { return p.paint(s, color.FgCyan) }

// Magenta is used for a second log prefix.
func (p *Palette) Magenta(s string) string { return p.paint(s, color.FgMagenta) }

// Blue is used for a third log prefix.
func (p *Palette) Blue(s string) string { return p.paint(s, color.FgBlue) }

// Bold is for headings.
func (p *Palette) Bold(s string) string { return p.paint(s, color.Bold) }

// Faint is for secondary detail.
func (p *Palette) Faint(s string) string { return p.paint(s, color.Faint) }
