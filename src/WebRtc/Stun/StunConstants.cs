namespace OspBridge.WebRtc.Stun;

/// <summary>STUN message classes (RFC 8489 §5): the C1/C0 bits of the message type.</summary>
public enum StunClass
{
    /// <summary>Request (0b00).</summary>
    Request = 0,
    /// <summary>Indication (0b01).</summary>
    Indication = 1,
    /// <summary>Success response (0b10).</summary>
    SuccessResponse = 2,
    /// <summary>Error response (0b11).</summary>
    ErrorResponse = 3,
}

/// <summary>STUN attribute types used by ICE (IANA STUN attributes registry).</summary>
public static class StunAttributeType
{
    /// <summary>MAPPED-ADDRESS (RFC 8489 §14.1).</summary>
    public const ushort MappedAddress = 0x0001;
    /// <summary>USERNAME (§14.3).</summary>
    public const ushort Username = 0x0006;
    /// <summary>MESSAGE-INTEGRITY, HMAC-SHA1 (§14.5).</summary>
    public const ushort MessageIntegrity = 0x0008;
    /// <summary>ERROR-CODE (§14.8).</summary>
    public const ushort ErrorCode = 0x0009;
    /// <summary>UNKNOWN-ATTRIBUTES (§14.9).</summary>
    public const ushort UnknownAttributes = 0x000A;
    /// <summary>REALM (§14.9).</summary>
    public const ushort Realm = 0x0014;
    /// <summary>NONCE (§14.10).</summary>
    public const ushort Nonce = 0x0015;
    /// <summary>MESSAGE-INTEGRITY-SHA256 (§14.6).</summary>
    public const ushort MessageIntegritySha256 = 0x001C;
    /// <summary>XOR-MAPPED-ADDRESS (§14.2).</summary>
    public const ushort XorMappedAddress = 0x0020;
    /// <summary>PRIORITY (RFC 8445 §16.1).</summary>
    public const ushort Priority = 0x0024;
    /// <summary>USE-CANDIDATE (RFC 8445 §16.1).</summary>
    public const ushort UseCandidate = 0x0025;
    /// <summary>SOFTWARE (§14.14).</summary>
    public const ushort Software = 0x8022;
    /// <summary>FINGERPRINT (§14.7).</summary>
    public const ushort Fingerprint = 0x8028;
    /// <summary>ICE-CONTROLLED (RFC 8445 §16.1).</summary>
    public const ushort IceControlled = 0x8029;
    /// <summary>ICE-CONTROLLING (RFC 8445 §16.1).</summary>
    public const ushort IceControlling = 0x802A;
    /// <summary>GOOG-NETWORK-INFO (Chrome, comprehension-optional).</summary>
    public const ushort GoogNetworkInfo = 0xC057;

    /// <summary>True for comprehension-required types (0x0000-0x7FFF).</summary>
    public static bool IsComprehensionRequired(ushort type) => type < 0x8000;
}

/// <summary>STUN constants.</summary>
public static class StunConstants
{
    /// <summary>The magic cookie 0x2112A442.</summary>
    public const uint MagicCookie = 0x2112A442;
    /// <summary>Header length.</summary>
    public const int HeaderLength = 20;
    /// <summary>The Binding method.</summary>
    public const ushort BindingMethod = 0x001;
    /// <summary>FINGERPRINT XOR value ("STUN").</summary>
    public const uint FingerprintXor = 0x5354554E;
    /// <summary>Largest STUN message we parse or build (fits one UDP datagram on any path we use).</summary>
    public const int MaxMessageLength = 1500;
    /// <summary>Most attributes we accept in one message.</summary>
    public const int MaxAttributes = 64;
}
