using System.Security.Cryptography;
using OspBridge.Crypto.Spake2;
using OspBridge.Osp.Messages;

namespace OspBridge.Osp.Auth;

/// <summary>Settings of one <see cref="OspAuthenticator"/> run (one connection, one attempt).</summary>
public sealed class OspAuthenticatorOptions
{
    /// <summary>Default <see cref="StepTimeout"/>: 10 s.</summary>
    public static readonly TimeSpan DefaultStepTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Default <see cref="PinEntryTimeout"/>: 60 s.</summary>
    public static readonly TimeSpan DefaultPinEntryTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Default <see cref="Timeout"/>: 90 s.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(90);

    /// <summary>True on the advertising agent (QUIC server, owner of the <c>at</c> token); false on the listening agent (QUIC client).</summary>
    public required bool IsAdvertiser { get; init; }

    /// <summary>Our agent fingerprint (base64 of SHA-256 over our certificate's SPKI, 44 characters).</summary>
    public required string LocalFingerprint { get; init; }

    /// <summary>The peer's agent fingerprint, taken from its TLS certificate.</summary>
    public required string RemoteFingerprint { get; init; }

    /// <summary>
    /// The advertising agent's <c>at</c> token. On the advertiser: its own (required; checked in the first
    /// auth-spake2-handshake it receives). On the listener: the TXT <c>at</c> it discovered (sent in its first
    /// auth-spake2-handshake; a handshake from the advertiser carrying another token fails). A listener without it
    /// cannot pair (the advertiser drops its handshake).
    /// </summary>
    public string? AuthToken { get; init; }

    /// <summary>Our auth-capabilities: psk-ease-of-input 0..100, input methods, psk-min-bits-of-entropy 20..60.</summary>
    public AuthCapabilities Capabilities { get; init; } = DefaultCapabilities();

    /// <summary>The default auth-capabilities: psk-ease-of-input 50, numeric input, 20 bits of entropy.</summary>
    public static AuthCapabilities DefaultCapabilities() => new()
    {
        PskEaseOfInput = 50,
        PskInputMethods = [PskInputMethod.Numeric],
        PskMinBitsOfEntropy = OspPsk.MinEntropyBits,
    };

    /// <summary>The SPAKE2 suite (the OSP profile: edwards25519; P-256 for experiments with go-lp2p's choice).</summary>
    public Spake2Suite Suite { get; init; } = Spake2Suite.Edwards25519Sha256;

    /// <summary>Source of PSKs and SPAKE2 scalars (a CSPRNG; tests pass a seeded one).</summary>
    public RandomNumberGenerator Random { get; init; } = RandomNumberGenerator.Create();

    /// <summary>How long to wait for a message the peer sends without a human in the loop.</summary>
    public TimeSpan StepTimeout { get; init; } = DefaultStepTimeout;

    /// <summary>How long a user has to type the PIN (ours on the consumer; the peer's, as seen by the presenter).</summary>
    public TimeSpan PinEntryTimeout { get; init; } = DefaultPinEntryTimeout;

    /// <summary>Limit for the whole authentication, from <see cref="OspAuthenticator.Start"/>.</summary>
    public TimeSpan Timeout { get; init; } = DefaultTimeout;
}
