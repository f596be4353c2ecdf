//! The literal rules of Ditto's `RqlParserBase` (reference §4.1): whitespace, `true`/`false`/`null`,
//! Java longs and decimals, double- and single-quoted strings with their escapes, and the `time:`
//! placeholder, each mirroring one parboiled2 rule.

use super::parse::RawLit;
use super::peg::{is_line_terminator, u, Parser, Stop, P};
use super::trace::Terminal;

impl Parser<'_> {
    pub(super) fn white_space(&mut self) -> P<()> {
        self.rule("WhiteSpace", |p| {
            p.zero_or_more(|p| p.rule("WhiteSpaceChar", |p| p.any_of(" \n\r\t\u{c}")))
        })
    }

    pub(super) fn ws(&mut self, c: u16) -> P<()> {
        self.rule("ws", |p| {
            p.seq(|p| {
                p.ch(c)?;
                p.white_space()
            })
        })
    }

    pub(super) fn literal(&mut self) -> P<RawLit> {
        self.rule("Literal", |p| {
            p.seq(|p| {
                let value = p.first_of(&[
                    Self::double_literal,
                    Self::long_literal,
                    Self::string_literal,
                    Self::string_single_quote_literal,
                    Self::placeholder_literal,
                    |p| p.word_literal("true", RawLit::Bool(true)),
                    |p| p.word_literal("false", RawLit::Bool(false)),
                    |p| p.word_literal("null", RawLit::Null),
                ])?;
                p.white_space()?;
                Ok(value)
            })
        })
    }

    /// `"true" ~ WhiteSpace ~ push(TRUE)`, inline in `Literal`.
    pub(super) fn word_literal(&mut self, word: &'static str, value: RawLit) -> P<RawLit> {
        self.seq(|p| {
            p.string(word)?;
            p.white_space()?;
            Ok(value)
        })
    }

    pub(super) fn double_literal(&mut self) -> P<RawLit> {
        self.rule("DoubleLiteral", |p| {
            p.seq(|p| {
                let text = p.capture(|p| {
                    p.seq(|p| {
                        p.integer()?;
                        p.rule("Frac", |p| {
                            p.seq(|p| {
                                p.string(".")?;
                                p.digits()
                            })
                        })
                    })
                })?;
                // Double.valueOf: the grammar only lets through well-formed decimals; huge ones
                // become infinite, as in Java.
                let value = String::from_utf16_lossy(text)
                    .parse::<f64>()
                    .unwrap_or(f64::NAN);
                p.white_space()?;
                Ok(RawLit::Double(value))
            })
        })
    }

    pub(super) fn long_literal(&mut self) -> P<RawLit> {
        self.rule("LongLiteral", |p| {
            p.seq(|p| {
                p.not_followed_by(|n| Terminal::NotString("-0", n), |p| p.string("-0"))?;
                let text = p.capture(Self::integer)?;
                let text = String::from_utf16_lossy(text);
                // Long.valueOf throws NumberFormatException on overflow, which aborts the parse.
                let value = text
                    .parse::<i64>()
                    .map_err(|_| Stop::Fatal(format!("For input string: \"{text}\"")))?;
                p.white_space()?;
                Ok(RawLit::Long(value))
            })
        })
    }

    pub(super) fn integer(&mut self) -> P<()> {
        self.rule("Integer", |p| {
            p.seq(|p| {
                p.optional(|p| p.any_of("+-"))?;
                p.first_of(&[
                    |p| {
                        p.seq(|p| {
                            p.rule("Digit19", |p| p.any_of("123456789"))?;
                            p.digits()
                        })
                    },
                    Self::digit,
                ])
            })
        })
    }

    pub(super) fn digits(&mut self) -> P<()> {
        self.rule("Digits", |p| p.one_or_more(Self::digit, None).map(|_| ()))
    }

    pub(super) fn digit(&mut self) -> P<()> {
        self.rule("Digit", |p| p.any_of("0123456789"))
    }

    pub(super) fn string_literal(&mut self) -> P<RawLit> {
        self.rule("StringLiteral", |p| {
            p.seq(|p| {
                p.ch(u(b'"'))?;
                p.sb.clear();
                p.rule("CharactersInQuotes", |p| {
                    p.zero_or_more(|p| {
                        p.first_of(&[
                            |p| {
                                p.rule("NormalCharInQuotes", |p| {
                                    p.seq(|p| {
                                        p.not_followed_by(
                                            |n| Terminal::NotRule("QuoteBackslash", n),
                                            Self::quote_backslash,
                                        )?;
                                        p.any()?;
                                        p.append_last();
                                        Ok(())
                                    })
                                })
                            },
                            |p| {
                                p.seq(|p| {
                                    p.ch(u(b'\\'))?;
                                    p.escaped_char()
                                })
                            },
                        ])
                    })
                })?;
                p.ws(u(b'"'))?;
                Ok(RawLit::Str(String::from_utf16_lossy(&p.sb)))
            })
        })
    }

    pub(super) fn string_single_quote_literal(&mut self) -> P<RawLit> {
        self.rule("StringSingleQuoteLiteral", |p| {
            p.seq(|p| {
                p.ch(u(b'\''))?;
                p.sb.clear();
                p.rule("CharactersInSingleQuotes", |p| {
                    p.zero_or_more(|p| {
                        p.first_of(&[
                            |p| {
                                p.rule("NormalCharInSingleQuotes", |p| {
                                    p.seq(|p| {
                                        p.not_followed_by(
                                            |n| Terminal::NotRule("SingleQuoteBackslash", n),
                                            Self::single_quote_backslash,
                                        )?;
                                        p.any()?;
                                        p.append_last();
                                        Ok(())
                                    })
                                })
                            },
                            |p| {
                                p.seq(|p| {
                                    p.ch(u(b'\\'))?;
                                    p.single_quote_escaped_char()
                                })
                            },
                        ])
                    })
                })?;
                p.ws(u(b'\''))?;
                Ok(RawLit::Str(String::from_utf16_lossy(&p.sb)))
            })
        })
    }

    pub(super) fn placeholder_literal(&mut self) -> P<RawLit> {
        self.rule("PlaceholderLiteral", |p| {
            p.seq(|p| {
                let text = p.capture(|p| {
                    p.seq(|p| {
                        p.rule("PlaceholderPrefix", |p| p.string("time:"))?;
                        p.rule("PlaceholderName", Self::characters)
                    })
                })?;
                // ParsedPlaceholder.of: `[a-z]+:.+` must match the whole capture; `.` stops at line
                // terminators. The capture is raw: escapes stay as written.
                let name = &text[5..];
                if name.is_empty() || name.iter().any(|&c| is_line_terminator(c)) {
                    return Err(Stop::Fatal(
                        "Placeholder was not in expected format <prefix:name>!".to_owned(),
                    ));
                }
                let name = String::from_utf16_lossy(name);
                p.white_space()?;
                Ok(RawLit::Time(name))
            })
        })
    }

    /// `Characters`: property names and placeholder names.
    pub(super) fn characters(&mut self) -> P<()> {
        self.rule("Characters", |p| {
            p.zero_or_more(|p| {
                p.first_of(&[
                    |p| {
                        p.rule("NormalChar", |p| {
                            p.seq(|p| {
                                p.not_followed_by(
                                    |n| Terminal::NotRule("CommaClosingParenthesisQuote", n),
                                    |p| {
                                        p.rule("CommaClosingParenthesisQuote", |p| {
                                            p.any_of(",)\"\\")
                                        })
                                    },
                                )?;
                                p.any()?;
                                p.append_last();
                                Ok(())
                            })
                        })
                    },
                    |p| {
                        p.seq(|p| {
                            p.ch(u(b'\\'))?;
                            p.escaped_char()
                        })
                    },
                ])
            })
        })
    }

    pub(super) fn quote_backslash(&mut self) -> P<()> {
        self.rule("QuoteBackslash", |p| p.any_of("\"\\"))
    }

    pub(super) fn single_quote_backslash(&mut self) -> P<()> {
        self.rule("SingleQuoteBackslash", |p| p.any_of("'\\"))
    }

    pub(super) fn escaped_char(&mut self) -> P<()> {
        self.rule("EscapedChar", |p| {
            p.first_of(&[
                |p| {
                    p.seq(|p| {
                        p.rule("QuoteBackslashSlash", |p| {
                            p.first_of(&[Self::quote_backslash, |p| p.string("/")])
                        })?;
                        p.append_last();
                        Ok(())
                    })
                },
                |p| p.control_escape(b'b', 0x08),
                |p| p.control_escape(b'f', 0x0C),
                |p| p.control_escape(b'n', 0x0A),
                |p| p.control_escape(b'r', 0x0D),
                |p| p.control_escape(b't', 0x09),
                Self::unicode_escape,
            ])
        })
    }

    pub(super) fn single_quote_escaped_char(&mut self) -> P<()> {
        self.rule("SingleQuoteEscapedChar", |p| {
            p.first_of(&[
                |p| {
                    p.seq(|p| {
                        p.rule("SingleQuoteBackslashSlash", |p| {
                            p.first_of(&[Self::single_quote_backslash, |p| p.string("/")])
                        })?;
                        p.append_last();
                        Ok(())
                    })
                },
                |p| p.control_escape(b'b', 0x08),
                |p| p.control_escape(b'f', 0x0C),
                |p| p.control_escape(b'n', 0x0A),
                |p| p.control_escape(b'r', 0x0D),
                |p| p.control_escape(b't', 0x09),
                Self::unicode_escape,
            ])
        })
    }

    /// `'n' ~ appendSB('\n')`.
    pub(super) fn control_escape(&mut self, letter: u8, value: u16) -> P<()> {
        self.seq(|p| {
            p.ch(u(letter))?;
            p.sb.push(value);
            Ok(())
        })
    }

    /// `Unicode ~> { code => sb.append(code.toChar) }`.
    pub(super) fn unicode_escape(&mut self) -> P<()> {
        self.seq(|p| {
            let code = p.rule("Unicode", |p| {
                p.seq(|p| {
                    p.ch(u(b'u'))?;
                    let hex = p.capture(|p| {
                        p.seq(|p| {
                            for _ in 0..4 {
                                p.rule("HexDigit", |p| p.any_of("0123456789ABCDEFabcdef"))?;
                            }
                            Ok(())
                        })
                    })?;
                    // Four ASCII hex digits, checked by the grammar.
                    Ok(u16::from_str_radix(&String::from_utf16_lossy(hex), 16).unwrap_or(0))
                })
            })?;
            p.sb.push(code);
            Ok(())
        })
    }
}
