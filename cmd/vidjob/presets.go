package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/vidjob/vidjob/preset"
)

// PresetsCmd lists the embedded preset catalog, and with --application that
// application's own presets (POST /presets) after it; it needs no server.
type PresetsCmd struct {
	DatabaseFlags
	JSON        bool   `name:"json" help:"Print the catalog as JSON, every setting included."`
	Deprecated  bool   `help:"Include deprecated presets (they still run, as their replacement)."`
	Application string `name:"application" help:"Also list this application's own presets (read from the database), after the system ones."`
}

// Run prints the table or the JSON.
func (c *PresetsCmd) Run(ctx context.Context) error {
	catalog, err := preset.Load()
	if err != nil {
		return err
	}
	all := catalog.All()
	if c.Application != "" {
		db, err := openDatabase(ctx, c.DatabaseFlags)
		if err != nil {
			return err
		}
		defer db.Close()
		if _, err := db.FindApplication(ctx, c.Application); err != nil {
			return fmt.Errorf("application %s: %w", c.Application, err)
		}
		own, err := (&preset.AppCatalog{Catalog: catalog, Store: db}).Own(ctx, c.Application)
		if err != nil {
			return err
		}
		all = append(all, own...)
	}
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
