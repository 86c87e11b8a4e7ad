package main

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/thebutton-game/thebutton/discordbot"
)

// interactionsPath is where Discord POSTs interactions (the Interactions
// Endpoint URL is PUBLIC_URL + this path, or wherever the load balancer
// forwards it from).
const interactionsPath = "/interactions"

// interactionSettings are the settings of interactions over HTTP:
// DISCORD_PUBLIC_KEY turns the endpoint on, DISCORD_GATEWAY=off runs the
// bot without a gateway session.
type interactionSettings struct {
	publicKeyHex string
	gateway      string
	publicKey    ed25519.PublicKey // parsed by check
}

func (s *interactionSettings) register(fs *flag.FlagSet) {
	fs.StringVar(&s.publicKeyHex, "discord-public-key", "",
		"the application's public key (hex, from the developer portal): serves POST "+interactionsPath+" on the HTTP address [DISCORD_PUBLIC_KEY]")
	fs.StringVar(&s.gateway, "discord-gateway", "on",
		"on: open a gateway session; off: interactions only over HTTP (needs DISCORD_PUBLIC_KEY) [DISCORD_GATEWAY]")
}

// noGateway reports whether the bot runs without a gateway session.
func (s *interactionSettings) noGateway() bool { return s.gateway == "off" }

// check parses the public key and reports every problem of the settings
// with the rest of the configuration.
func (s *interactionSettings) check(c *config, legacy bool, shards string) error {
	var errs []error
	s.publicKey = nil
	if s.publicKeyHex != "" {
		k, err := discordbot.ParsePublicKey(strings.TrimSpace(s.publicKeyHex))
		if err != nil {
			errs = append(errs, fmt.Errorf("DISCORD_PUBLIC_KEY: %w", err))
		}
		s.publicKey = k
		if c.discordToken == "" {
			errs = append(errs, errors.New("DISCORD_PUBLIC_KEY needs DISCORD_TOKEN: answers edited in later, game messages and roles go through the REST API"))
		}
		if c.httpAddr == "" {
			errs = append(errs, errors.New("DISCORD_PUBLIC_KEY needs HTTP_ADDR: the interactions endpoint is served there"))
		}
	}
	switch s.gateway {
	case "on":
	case "off":
		if s.publicKeyHex == "" && c.discordToken != "" {
			errs = append(errs, errors.New("DISCORD_GATEWAY=off needs DISCORD_PUBLIC_KEY: without the gateway interactions come only over HTTP"))
		}
		if legacy {
			errs = append(errs, errors.New("DISCORD_GATEWAY=off cannot serve LEGACY_TEXT_COMMANDS: messages come only over the gateway"))
		}
		if shards != "" {
			errs = append(errs, errors.New("DISCORD_GATEWAY=off opens no gateway shard: leave DISCORD_SHARDS unset"))
		}
	default:
		errs = append(errs, fmt.Errorf("DISCORD_GATEWAY: %q is not on or off", s.gateway))
	}
	return errors.Join(errs...)
}

// mountInteractions adds the interactions endpoint of bot to mount when
// DISCORD_PUBLIC_KEY is set (and the bot runs).
func (s *interactionSettings) mountInteractions(mount map[string]http.Handler, bot *discordbot.Bot, log *slog.Logger) error {
	if s.publicKey == nil || bot == nil {
		return nil
	}
	h, err := bot.InteractionsHandler(s.publicKey, discordbot.InteractionsOptions{})
	if err != nil {
		return err
	}
	mount[interactionsPath] = h
	log.Info("interactions endpoint on", "path", interactionsPath, "gateway", !s.noGateway(),
		"max_body", discordbot.DefaultMaxInteractionBody, "max_skew", discordbot.DefaultMaxInteractionSkew)
	return nil
}
