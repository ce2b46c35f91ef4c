using System.Security.Cryptography;
using System.Text;
using OspBridge.Osp.Auth;
using OspBridge.Osp.Messages;
using OspBridge.Testing.Virtual;

namespace OspBridge.Osp.Tests.Auth;

/// <summary>
/// Two <see cref="OspAuthenticator"/>s (listener = QUIC client, advertiser = QUIC server) wired back to back in
/// memory with virtual time. Every message goes through the generated codec (frame + decode) and past
/// <see cref="Tamper"/> (which may drop, change or record it). The consumer's "user" types <see cref="PinToType"/>.
/// </summary>
internal sealed class AuthPair : IDisposable
{
    public const string Token = "Tok3n+ForTests/9";

    public static readonly string ClientFingerprint = Fingerprint("client");
    public static readonly string ServerFingerprint = Fingerprint("server");

    public AuthPair(ulong clientEase = 50, ulong serverEase = 50, ulong seed = 1, string? clientToken = Token,
        ulong clientBits = 20, ulong serverBits = 20, Action<OspAuthenticatorOptionsBuilder>? tweak = null)
    {
        var c = new OspAuthenticatorOptionsBuilder
        {
            IsAdvertiser = false, Local = ClientFingerprint, Remote = ServerFingerprint, Token = clientToken,
            Ease = clientEase, Bits = clientBits, Seed = seed,
        };
        var s = new OspAuthenticatorOptionsBuilder
        {
            IsAdvertiser = true, Local = ServerFingerprint, Remote = ClientFingerprint, Token = Token,
            Ease = serverEase, Bits = serverBits, Seed = seed + 1000,
        };
        tweak?.Invoke(c);
        tweak?.Invoke(s);
        Client = new OspAuthenticator(c.Build());
        Server = new OspAuthenticator(s.Build());
    }

    private OspAuthenticator? _pinWanted;

    public OspAuthenticator Client { get; }

    public OspAuthenticator Server { get; }

    public TimeSpan Now { get; private set; }

    /// <summary>Everything that crossed the wire (after tampering), in order: (from client?, message).</summary>
    public List<(bool FromClient, IOspMessage Message)> Wire { get; } = [];

    public List<OspAuthEvent> ClientEvents { get; } = [];

    public List<OspAuthEvent> ServerEvents { get; } = [];

    /// <summary>Return null to drop a message, or another message to replace it.</summary>
    public Func<bool, IOspMessage, IOspMessage?> Tamper { get; set; } = (_, m) => m;

    /// <summary>What the consumer's user types given the shown PIN (null: the user does not type).</summary>
    public Func<OspPsk, string?> PinToType { get; set; } = pin => pin.ToDisplayString();

    /// <summary>Deliver each side's batch of messages in reverse order (streams are unordered).</summary>
    public bool ReverseBatches { get; set; }

    public OspPsk? ShownPin { get; private set; }

    public int NeedPinCount { get; private set; }

    public void Start()
    {
        Client.Start(Now);
        Server.Start(Now);
        Run();
    }

    public void Run(int maxRounds = 50)
    {
        for (int round = 0; round < maxRounds; round++)
        {
            bool moved = Drain(Client, Server, true) | Drain(Server, Client, false);
            moved |= Events(Client, ClientEvents) | Events(Server, ServerEvents);
            if (_pinWanted is { } consumer && ShownPin is not null)
            {
                // The user reads the PIN off the presenter (events of both sides are in by now).
                _pinWanted = null;
                string? typed = PinToType(ShownPin);
                if (typed is not null) Assert.True(consumer.SubmitPin(typed, Now));
                moved = true;
            }

            if (!moved) return;
        }

        throw new InvalidOperationException("the pair did not settle");
    }

    public void Advance(TimeSpan by)
    {
        Now += by;
        Client.HandleDeadline(Now);
        Server.HandleDeadline(Now);
        Run();
    }

    /// <summary>Delivers a message to one side as if the peer sent it (replays, forgeries).</summary>
    public void Inject(bool toClient, IOspMessage message)
    {
        var decoded = OspFraming.Decode(OspFraming.Frame(message));
        (toClient ? Client : Server).Receive(decoded, Now);
        Run();
    }

    /// <summary>Delivers only the next queued message of one side.</summary>
    public void DeliverOne(bool fromClient)
    {
        Assert.True((fromClient ? Client : Server).TryPollTransmit(out var m));
        var decoded = OspFraming.Decode(OspFraming.Frame(m));
        Wire.Add((fromClient, decoded));
        (fromClient ? Server : Client).Receive(decoded, Now);
    }

    public void Dispose()
    {
        Client.Dispose();
        Server.Dispose();
    }

    public static string Fingerprint(string name) => Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(name)));

    private bool Drain(OspAuthenticator from, OspAuthenticator to, bool fromClient)
    {
        var batch = new List<IOspMessage>();
        while (from.TryPollTransmit(out var m)) batch.Add(m);
        if (ReverseBatches) batch.Reverse();
        foreach (var m in batch)
        {
            var decoded = OspFraming.Decode(OspFraming.Frame(m)); // through the generated codec
            var delivered = Tamper(fromClient, decoded);
            if (delivered is null) continue;
            Wire.Add((fromClient, delivered));
            to.Receive(delivered, Now);
        }

        return batch.Count > 0;
    }

    private bool Events(OspAuthenticator core, List<OspAuthEvent> log)
    {
        bool any = false;
        while (core.TryPollEvent(out var ev))
        {
            any = true;
            log.Add(ev);
            switch (ev)
            {
                case OspAuthShowPin show:
                    ShownPin = show.Pin;
                    break;
                case OspAuthNeedPin:
                    NeedPinCount++;
                    _pinWanted = core;
                    break;
            }
        }

        return any;
    }
}

internal sealed class OspAuthenticatorOptionsBuilder
{
    public bool IsAdvertiser { get; init; }

    public string Local { get; init; } = "";

    public string Remote { get; init; } = "";

    public string? Token { get; set; }

    public ulong Ease { get; set; }

    public ulong Bits { get; set; }

    public ulong Seed { get; set; }

    public OspBridge.Crypto.Spake2.Spake2Suite Suite { get; set; } = OspBridge.Crypto.Spake2.Spake2Suite.Edwards25519Sha256;

    public IReadOnlyList<PskInputMethod> Methods { get; set; } = [PskInputMethod.Numeric];

    public TimeSpan StepTimeout { get; set; } = OspAuthenticatorOptions.DefaultStepTimeout;

    public TimeSpan PinEntryTimeout { get; set; } = OspAuthenticatorOptions.DefaultPinEntryTimeout;

    public TimeSpan Timeout { get; set; } = OspAuthenticatorOptions.DefaultTimeout;

    public OspAuthenticatorOptions Build() => new()
    {
        IsAdvertiser = IsAdvertiser,
        LocalFingerprint = Local,
        RemoteFingerprint = Remote,
        AuthToken = Token,
        Capabilities = new AuthCapabilities { PskEaseOfInput = Ease, PskInputMethods = Methods, PskMinBitsOfEntropy = Bits },
        Random = new SeededRandomNumberGenerator(Seed),
        Suite = Suite,
        StepTimeout = StepTimeout,
        PinEntryTimeout = PinEntryTimeout,
        Timeout = Timeout,
    };
}
