-- 0001: the history projection of the event stream (projector/mysqlproj).
--
-- Every row is derived from the stream and can be rebuilt from it. Discord
-- ids are stored as the exact strings of the events (ASCII, binary
-- collation). Times are DATETIME(3) in UTC: the projection's sessions force
-- time_zone = '+00:00', and every value is written from a UTC time.Time.
-- Statements use IF NOT EXISTS so a migration cut short (MySQL commits DDL
-- implicitly) completes when it runs again.

-- One row per game, from game.started, kept up to date by the later events.
CREATE TABLE IF NOT EXISTS games (
    game            BIGINT UNSIGNED NOT NULL,
    guild           VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    button_channel  VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    chat_channel    VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    duration_ms     BIGINT NOT NULL,
    cooldown_ms     BIGINT NOT NULL,
    sequential      INT NOT NULL,
    started_at      DATETIME(3) NOT NULL,
    started_by      VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    starter_name    VARCHAR(100) NOT NULL DEFAULT '',
    status          ENUM('active', 'ended', 'aborted') NOT NULL,
    ended_at        DATETIME(3) NULL,                -- the deadline for 'ended'
    end_reason      VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NULL,
    ended_by        VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NULL, -- who aborted it
    ended_why       VARCHAR(500) NULL,                                      -- and why
    message_channel VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NULL,
    message_id      VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NULL,
    clicks          BIGINT NOT NULL DEFAULT 0,
    players         INT NOT NULL DEFAULT 0,          -- distinct clickers
    last_click_at   DATETIME(3) NULL,                -- NULL before the first click
    deadline_at     DATETIME(3) NOT NULL,            -- (last click or start) + duration
    seq             BIGINT UNSIGNED NOT NULL,        -- stream sequence of the game's last applied event
    PRIMARY KEY (game),
    KEY games_guild (guild, started_at),             -- a guild's games (game list, monthly quest)
    KEY games_status (status, deadline_at)           -- active games, expired at start-up
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One row per accepted click, keyed by its stream sequence. The figures are
-- the ones recorded at acceptance; nothing recomputes them.
CREATE TABLE IF NOT EXISTS clicks (
    seq         BIGINT UNSIGNED NOT NULL,
    game        BIGINT UNSIGNED NOT NULL,
    number      BIGINT NOT NULL,                     -- 1, 2, 3… within the game
    guild       VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user        VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_name   VARCHAR(100) NOT NULL DEFAULT '',
    at          DATETIME(3) NOT NULL,
    value_ms    BIGINT NOT NULL,                     -- remaining time at the click
    band        TINYINT UNSIGNED NOT NULL,           -- 0 Red … 5 Purple
    claimed_ms  BIGINT NOT NULL,                     -- duration − value
    mmr_milli   BIGINT NOT NULL,                     -- MMR × 1000
    interaction VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    PRIMARY KEY (seq),
    UNIQUE KEY clicks_game_number (game, number),    -- a game's clicks in order (showclicks, timeline)
    KEY clicks_game_user (game, user, number),       -- a player's clicks in a game (rank, check, cooldowns)
    -- Tier table (l1), clicks near a band edge (edging), and the lowest
    -- clicks of a game (clicklist, l2): within one game the band grows with
    -- the value, so ORDER BY band, value_ms is the order of value_ms.
    KEY clicks_game_band (game, band, value_ms),
    KEY clicks_value (value_ms),                     -- lowest clicks of all games (clicklist global)
    KEY clicks_guild_at (guild, at)                  -- monthly time claimed per guild (clickquest), heat maps
    -- A player's clicks across games (player card): their games from
    -- game_players_user, then clicks_game_user in each.
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Per player per game: the aggregates of the leaderboards (l2, rank, end
-- summary, last distinct clickers), kept with the clicks they sum. Every
-- click updates its row, so no index covers a summed column: a board reads
-- one game's players (a few thousand at most) by the primary key's prefix
-- and sorts them.
CREATE TABLE IF NOT EXISTS game_players (
    game           BIGINT UNSIGNED NOT NULL,
    user           VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    clicks         BIGINT NOT NULL,
    best_value_ms  BIGINT NOT NULL,                  -- lowest value: the best click
    claimed_ms     BIGINT NOT NULL,                  -- total time claimed
    mmr_milli      BIGINT NOT NULL,                  -- total MMR × 1000
    clicks_red     BIGINT NOT NULL DEFAULT 0,
    clicks_orange  BIGINT NOT NULL DEFAULT 0,
    clicks_yellow  BIGINT NOT NULL DEFAULT 0,
    clicks_green   BIGINT NOT NULL DEFAULT 0,
    clicks_blue    BIGINT NOT NULL DEFAULT 0,
    clicks_purple  BIGINT NOT NULL DEFAULT 0,
    first_click_at DATETIME(3) NOT NULL,
    last_click_at  DATETIME(3) NOT NULL,
    last_number    BIGINT NOT NULL,                  -- number of the player's last click
    PRIMARY KEY (game, user),
    KEY game_players_user (user)                     -- a player's games
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Every player who clicked, across games and guilds.
CREATE TABLE IF NOT EXISTS players (
    user          VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    name          VARCHAR(100) NOT NULL DEFAULT '',  -- last known display name
    clicks        BIGINT NOT NULL,                   -- all games together
    first_seen_at DATETIME(3) NOT NULL,
    last_seen_at  DATETIME(3) NOT NULL,
    PRIMARY KEY (user)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- A guild's settings: its icon for the cross-guild ranking.
CREATE TABLE IF NOT EXISTS guilds (
    guild       VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    icon        VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    icon_set_by VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    icon_set_at DATETIME(3) NOT NULL,
    PRIMARY KEY (guild)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- A guild's ban list: one row per banned player; an unban deletes it.
CREATE TABLE IF NOT EXISTS guild_bans (
    guild     VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user      VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    banned_by VARCHAR(20) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    reason    VARCHAR(500) NOT NULL DEFAULT '',
    banned_at DATETIME(3) NOT NULL,
    PRIMARY KEY (guild, user)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- The last stream sequence each projection applied, written in the same
-- transaction as the data it covers.
CREATE TABLE IF NOT EXISTS projector_checkpoints (
    name       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    seq        BIGINT UNSIGNED NOT NULL,
    updated_at DATETIME(3) NOT NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
