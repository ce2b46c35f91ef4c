namespace OspBridge.Crypto.Spake2;

/// <summary>A SPAKE2 ciphersuite (RFC 9382 §6, Table 1).</summary>
public enum Spake2Suite
{
    /// <summary><c>edwards25519-SHA256-HKDF-HMAC-SHA256</c>: the Open Screen Network Protocol's suite (group arithmetic from libsodium).</summary>
    Edwards25519Sha256,

    /// <summary><c>P256-SHA256-HKDF-HMAC-SHA256</c>: the suite of RFC 9382 Appendix B's vectors and of go-lp2p (arithmetic from BouncyCastle).</summary>
    P256Sha256,
}

/// <summary>Which side of SPAKE2 this party plays. Alice sends pA = w·M + x·P, Bob sends pB = w·N + y·P.</summary>
public enum Spake2Role
{
    /// <summary>Party A (in OSP: the agent that sends the first auth-spake2-handshake).</summary>
    Alice,

    /// <summary>Party B.</summary>
    Bob,
}

/// <summary>Why a SPAKE2 step failed.</summary>
public enum Spake2Error
{
    /// <summary>No error.</summary>
    None,

    /// <summary>The peer's share is not an encoding of a group element (or is the identity / in a small subgroup).</summary>
    InvalidShare,

    /// <summary>The peer's confirmation MAC does not verify (wrong password or a tampered transcript).</summary>
    ConfirmationMismatch,

    /// <summary>The call is not valid in the current state (e.g. a confirmation before the peer's share).</summary>
    InvalidState,
}
