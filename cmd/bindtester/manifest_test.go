package main

import (
	"os"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The Slack app manifest asks for what the bot uses: Socket Mode, the slash
// command, interactivity (buttons, the form), the Home tab and its event.
func TestManifestEnablesWhatTheBotUses(t *testing.T) {
	raw, err := os.ReadFile("../../slack-app-manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			AppHome struct {
				HomeTab     bool `yaml:"home_tab_enabled"`
				MessagesTab bool `yaml:"messages_tab_enabled"`
			} `yaml:"app_home"`
			SlashCommands []struct {
				Command string `yaml:"command"`
			} `yaml:"slash_commands"`
		} `yaml:"features"`
		Settings struct {
			Events struct {
				BotEvents []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
			Interactivity struct {
				Enabled bool `yaml:"is_enabled"`
			} `yaml:"interactivity"`
			SocketMode bool `yaml:"socket_mode_enabled"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if !m.Features.AppHome.HomeTab || !m.Features.AppHome.MessagesTab {
		t.Errorf("app_home = %+v; want the Home tab and the Messages tab (the bot's DMs)", m.Features.AppHome)
	}
	for _, ev := range []string{"app_mention", "app_home_opened"} {
		if !slices.Contains(m.Settings.Events.BotEvents, ev) {
			t.Errorf("bot_events %v lack %s", m.Settings.Events.BotEvents, ev)
		}
	}
	if !m.Settings.Interactivity.Enabled || !m.Settings.SocketMode {
		t.Errorf("settings %+v; want interactivity and Socket Mode", m.Settings)
	}
	if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != "/bindtester" {
		t.Errorf("slash commands %+v; want /bindtester", m.Features.SlashCommands)
	}
}
