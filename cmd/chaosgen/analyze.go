package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newAnalyzeCmd() *cobra.Command {
	return &cobra.Command{Use: "analyze", RunE: func(*cobra.Command, []string) error { return errors.New("analyze: in progress") }}
}
