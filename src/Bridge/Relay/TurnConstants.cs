namespace OspBridge.Bridge.Relay;

/// <summary>TURN (RFC 8656) methods, attributes and error codes the bridge's relay uses.</summary>
internal static class TurnConstants
{
    public const ushort Binding = 0x001;
    public const ushort Allocate = 0x003;
    public const ushort Refresh = 0x004;
    public const ushort Send = 0x006;
    public const ushort Data = 0x007;
    public const ushort CreatePermission = 0x008;
    public const ushort ChannelBind = 0x009;

    public const ushort AttrChannelNumber = 0x000C;
    public const ushort AttrLifetime = 0x000D;
    public const ushort AttrXorPeerAddress = 0x0012;
    public const ushort AttrData = 0x0013;
    public const ushort AttrXorRelayedAddress = 0x0016;
    public const ushort AttrRequestedAddressFamily = 0x0017;
    public const ushort AttrRequestedTransport = 0x0019;
    public const ushort AttrAdditionalAddressFamily = 0x8000;

    public const int ErrBadRequest = 400;
    public const int ErrUnauthorized = 401;
    public const int ErrForbidden = 403;
    public const int ErrUnknownAttribute = 420;
    public const int ErrAllocationMismatch = 437;
    public const int ErrStaleNonce = 438;
    public const int ErrAddressFamilyNotSupported = 440;
    public const int ErrWrongCredentials = 441;
    public const int ErrUnsupportedTransport = 442;
    public const int ErrAllocationQuotaReached = 486;
    public const int ErrInsufficientCapacity = 508;

    /// <summary>The IANA protocol number of UDP (REQUESTED-TRANSPORT).</summary>
    public const byte ProtocolUdp = 17;

    /// <summary>Channel numbers clients may bind (RFC 8656 §12).</summary>
    public const ushort MinChannel = 0x4000, MaxChannel = 0x4FFF;
}
