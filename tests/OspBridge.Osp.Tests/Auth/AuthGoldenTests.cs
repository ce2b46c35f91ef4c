using System.Text;
using OspBridge.Osp.Auth;
using OspBridge.Osp.Messages;

namespace OspBridge.Osp.Tests.Auth;

/// <summary>
/// Golden wire bytes (QUIC varint type key + CBOR body) of every auth message, taken from a seeded in-memory
/// pairing run through the generated codec, and the same bytes listed in docs/osp-messages.md §5.1 (asserted here,
/// so the document cannot drift from the code).
/// </summary>
public sealed class AuthGoldenTests
{
    private const string Begin = "<!-- auth-golden:begin -->";
    private const string End = "<!-- auth-golden:end -->";

    internal static List<(string Name, string Value)> Computed()
    {
        // Seeded run: fingerprints SHA-256("client") / SHA-256("server"), at "Tok3n+ForTests/9", the server
        // (ease 0) presents, the client (ease 50) types; client seed 2026, server seed 3026.
        using var pair = new AuthPair(clientEase: 50, serverEase: 0, seed: 2026);
        pair.Start();
        Assert.Equal(OspAuthState.Authenticated, pair.Server.State);
        string Hex(bool fromClient, Func<IOspMessage, bool> match) =>
            Convert.ToHexStringLower(OspFraming.Frame(pair.Wire.Single(w => w.FromClient == fromClient && match(w.Message)).Message));
        var rows = new List<(string, string)>
        {
            ("pin shown by the server", pair.ShownPin!.ToDisplayString()),
            ("auth-capabilities, client {0: 50, 1: [0], 2: 20}", Hex(true, m => m is AuthCapabilities)),
            ("auth-capabilities, server {0: 0, 1: [0], 2: 20}", Hex(false, m => m is AuthCapabilities)),
            ("auth-spake2-handshake, client, psk-needs-presentation, empty public-value", Hex(true, m => m is AuthSpake2Handshake { PskStatus: AuthSpake2PskStatus.PskNeedsPresentation })),
            ("auth-spake2-handshake, server, psk-shown, pA", Hex(false, m => m is AuthSpake2Handshake { PskStatus: AuthSpake2PskStatus.PskShown })),
            ("auth-spake2-handshake, client, psk-input, pB", Hex(true, m => m is AuthSpake2Handshake { PskStatus: AuthSpake2PskStatus.PskInput })),
            ("auth-spake2-confirmation, client, cB + 32 zero bytes", Hex(true, m => m is AuthSpake2Confirmation)),
            ("auth-spake2-confirmation, server, cA + 32 zero bytes", Hex(false, m => m is AuthSpake2Confirmation)),
        };
        foreach (AuthStatusResult result in Enum.GetValues<AuthStatusResult>())
        {
            rows.Add(($"auth-status {{0: {(int)result}}} ({result})", Convert.ToHexStringLower(OspFraming.Frame(new AuthStatus { Result = result }))));
        }

        Assert.Equal(rows[^6].Item2, Hex(true, m => m is AuthStatus)); // the run's own auth-status authenticated
        return rows;
    }

    [Fact]
    public void The_seeded_run_is_reproducible()
    {
        Assert.Equal(Computed(), Computed());
    }

    [Fact]
    public void Every_vector_decodes_and_re_encodes_to_the_same_bytes()
    {
        foreach (var (name, value) in Computed().Skip(1))
        {
            byte[] frame = Convert.FromHexString(value);
            IOspMessage decoded = OspFraming.Decode(frame);
            Assert.StartsWith(decoded.Name, name, StringComparison.Ordinal);
            Assert.Equal(frame, OspFraming.Frame(decoded));
        }
    }

    [Fact]
    public void Docs_list_exactly_these_bytes()
    {
        string doc = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "docs", "osp-messages.md"));
        int begin = doc.IndexOf(Begin, StringComparison.Ordinal);
        int end = doc.IndexOf(End, StringComparison.Ordinal);
        Assert.True(begin >= 0 && end > begin, "docs/osp-messages.md lacks the auth golden table markers");
        var documented = new List<(string, string)>();
        foreach (string line in doc[(begin + Begin.Length)..end].Split('\n'))
        {
            string[] cells = line.Split('|', StringSplitOptions.TrimEntries);
            if (cells.Length < 4 || cells[2].Length < 2 || cells[2][0] != '`') continue;
            documented.Add((cells[1], cells[2].Trim('`')));
        }

        var expected = Computed();
        var table = new StringBuilder();
        foreach (var (name, value) in expected) table.Append("| ").Append(name).Append(" | `").Append(value).Append("` |\n");
        Assert.True(expected.SequenceEqual(documented), "docs/osp-messages.md auth table should be:\n" + table);
    }
}
