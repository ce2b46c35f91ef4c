namespace OspBridge.WebRtc.Sdp;

/// <summary>Limits applied while parsing untrusted SDP; exceeding one throws <see cref="WebRtcException"/> (LimitExceeded).</summary>
public sealed record SdpLimits
{
    /// <summary>Largest accepted description in characters.</summary>
    public int MaxLength { get; init; } = 256 * 1024;
    /// <summary>Largest accepted line in characters.</summary>
    public int MaxLineLength { get; init; } = 8 * 1024;
    /// <summary>Most lines.</summary>
    public int MaxLines { get; init; } = 8192;
    /// <summary>Most m-sections.</summary>
    public int MaxMediaSections { get; init; } = 256;
    /// <summary>Most attributes in one section.</summary>
    public int MaxAttributesPerSection { get; init; } = 2048;

    /// <summary>The defaults.</summary>
    public static SdpLimits Default { get; } = new();
}
