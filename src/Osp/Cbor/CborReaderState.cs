namespace OspBridge.Osp.Cbor;

/// <summary>What <see cref="CborReader.PeekState"/> sees next.</summary>
public enum CborReaderState
{
    /// <summary>Major type 0.</summary>
    UnsignedInteger,
    /// <summary>Major type 1.</summary>
    NegativeInteger,
    /// <summary>Major type 2, definite or indefinite length (chunks are read as one string).</summary>
    ByteString,
    /// <summary>Major type 3, definite or indefinite length (chunks are read as one string).</summary>
    TextString,
    /// <summary>Major type 4: the start of an array.</summary>
    StartArray,
    /// <summary>The end of the current array (all elements read, or a break code).</summary>
    EndArray,
    /// <summary>Major type 5: the start of a map.</summary>
    StartMap,
    /// <summary>The end of the current map (all pairs read, or a break code).</summary>
    EndMap,
    /// <summary>Major type 6: a tag number (followed by its tagged item).</summary>
    Tag,
    /// <summary>Simple value 20 or 21.</summary>
    Boolean,
    /// <summary>Simple value 22.</summary>
    Null,
    /// <summary>Simple value 23.</summary>
    Undefined,
    /// <summary>Any other simple value (0–19, 32–255).</summary>
    SimpleValue,
    /// <summary>An IEEE 754 binary16 float.</summary>
    HalfPrecisionFloat,
    /// <summary>An IEEE 754 binary32 float.</summary>
    SinglePrecisionFloat,
    /// <summary>An IEEE 754 binary64 float.</summary>
    DoublePrecisionFloat,
    /// <summary>The single top-level item has been read completely.</summary>
    Finished,
}
