package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/vidjob/vidjob/preset"
)

// PresetsCmd lists the embedded preset catalog; it needs no server.
type PresetsCmd struct {
	JSON       bool `name:"json" help:"Print the catalog as JSON, every setting included."`
	Deprecated bool `help:"Include deprecated presets (they still run, as their replacement)."`
}

// Run prints the table or the JSON.
func (c *PresetsCmd) Run(ctx context.Context) error {
	catalog, err := preset.Load()
	if err != nil {
		return err
	}
	all := catalog.All()
	if c.JSON {
		return printJSON(all)
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tCONTAINER\tVIDEO\tAUDIO\tSTATUS")
	for _, p := range all {
		if p.Status == "deprecated" && !c.Deprecated {
			continue
		}
		video, audio := "-", "-"
		if p.Video != nil {
			video = fmt.Sprintf("%s %s×%s", p.Video.Codec, p.Video.MaxWidth, p.Video.MaxHeight)
		}
		if p.Audio != nil && p.Audio.Codec != "" {
			audio = p.Audio.Codec
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Name, p.Container, video, audio, p.Status)
	}
	return tw.Flush()
}
